// unatd's counters in the Prometheus text exposition format (version
// 0.0.4): what `unatctl metrics` prints, from the control socket's stats
// and namespace listing. Every name starts with `unat_`; counters end in
// `_total`; labels carry the namespace, protocol, device and drop reason.
#pragma once

#include <string>

#include "tun/control.pb.h"

namespace unat::tun {

// `stats` from a GetStats answer, `namespaces` from a ListNamespaces one.
std::string PrometheusText(const control::Stats& stats,
                           const control::Response& namespaces);

// A label value as the format quotes it (backslash, double quote and
// newline escaped).
std::string EscapeLabelValue(const std::string& v);

}  // namespace unat::tun
