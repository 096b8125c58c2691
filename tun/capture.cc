#include "tun/capture.h"

#include <time.h>

#include <algorithm>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "tun/framing.h"
#include "tun/log.h"

namespace unat::tun {
namespace {

int64_t RealtimeNs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// "lan (unat-lan:unat0)", as errors and the log name a device.
std::string Describe(const CaptureSet::Target& t) {
  return absl::StrCat(t.name, " (", t.netns, t.netns.empty() ? "" : ":",
                      t.device, ")");
}

}  // namespace

class CaptureSet::Tap : public PacketTap {
 public:
  Tap(CaptureSet* set, size_t target) : set_(set), target_(target) {}
  void Tapped(bool written, const uint8_t* data, size_t len) override {
    set_->Record(target_, written, data, len);
  }

 private:
  CaptureSet* set_;
  size_t target_;
};

CaptureSet::CaptureSet(std::vector<Target> targets, StreamConnections* conns,
                       Limits limits)
    : conns_(conns), limits_(limits) {
  devices_.reserve(targets.size());
  for (size_t i = 0; i < targets.size(); ++i) {
    devices_.push_back({std::move(targets[i]), std::make_unique<Tap>(this, i)});
  }
  conns_->SetHangup([this](int conn) { OnHangup(conn); });
}

CaptureSet::~CaptureSet() {
  conns_->SetHangup(nullptr);
  for (Device& d : devices_) {
    if (d.live && d.sessions > 0) d.target.set_tap(nullptr);
  }
}

void CaptureSet::SetTarget(size_t index, Target target) {
  while (devices_.size() <= index) {
    devices_.push_back(
        {Target{}, std::make_unique<Tap>(this, devices_.size())});
    devices_.back().live = false;
  }
  Device& d = devices_[index];
  d.target = std::move(target);
  d.live = true;
  d.sessions = 0;
  d.captured = 0;
  d.dropped = 0;
}

void CaptureSet::RemoveTarget(size_t index, const char* why) {
  if (index >= devices_.size() || !devices_[index].live) return;
  for (size_t i = sessions_.size(); i-- > 0;) {
    if (sessions_[i].target == index) End(i, why);
  }
  Device& d = devices_[index];
  d.live = false;
  d.target = Target{};
  d.captured = 0;
  d.dropped = 0;
}

absl::StatusOr<size_t> CaptureSet::Resolve(const std::string& name) const {
  for (size_t i = 0; i < devices_.size(); ++i) {
    if (devices_[i].live && devices_[i].target.name == name) return i;
  }
  const size_t colon = name.find(':');
  std::vector<size_t> hits;
  for (size_t i = 0; i < devices_.size(); ++i) {
    if (!devices_[i].live) continue;
    const Target& t = devices_[i].target;
    if (colon == std::string::npos ? t.device == name
                                   : t.netns == name.substr(0, colon) &&
                                         t.device == name.substr(colon + 1)) {
      hits.push_back(i);
    }
  }
  if (hits.size() == 1) return hits[0];
  std::string list;
  for (size_t i = 0; i < devices_.size(); ++i) {
    if (!devices_[i].live) continue;
    if (!hits.empty() && std::find(hits.begin(), hits.end(), i) == hits.end()) {
      continue;
    }
    absl::StrAppend(&list, list.empty() ? "" : ", ",
                    Describe(devices_[i].target));
  }
  if (hits.empty()) {
    return absl::NotFoundError(
        absl::StrCat("no device \"", name, "\"; devices: ", list));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("device \"", name, "\" is ambiguous: ", list,
                   "; name the inside network or NETNS:DEVICE"));
}

absl::Status CaptureSet::Start(const control::CaptureRequest& request, int conn,
                               control::Response* response) {
  if (request.count() < 1 || request.count() > limits_.max_count) {
    return absl::InvalidArgumentError(absl::StrCat(
        "count ", request.count(), " is out of range 1..", limits_.max_count));
  }
  for (const Session& s : sessions_) {
    if (s.conn == conn) {
      return absl::FailedPreconditionError(
          "this connection runs a capture already");
    }
  }
  auto target = Resolve(request.device());
  if (!target.ok()) return target.status();
  if (sessions_.size() >= limits_.max_captures) {
    return absl::ResourceExhaustedError(
        absl::StrCat(sessions_.size(), " captures run already (at most ",
                     limits_.max_captures, " at once)"));
  }
  sessions_.push_back({conn, *target, request.count()});
  Device& d = devices_[*target];
  if (d.sessions++ == 0) d.target.set_tap(d.tap.get());
  FillCapture(sessions_.back(), response->mutable_capture());
  Log("control: capture of %d packet(s) on %s started", request.count(),
      Describe(d.target));
  return absl::OkStatus();
}

void CaptureSet::Record(size_t target, bool written, const uint8_t* data,
                        size_t len) {
  Device& d = devices_[target];
  bool framed = false;
  for (size_t i = 0; i < sessions_.size();) {
    Session& s = sessions_[i];
    if (s.target != target) {
      ++i;
      continue;
    }
    if (!framed) {
      control::CapturedPacket* p = scratch_.mutable_packet();
      p->set_time_ns(RealtimeNs());
      p->set_data(data, len);
      p->set_written(written);
      frame_.clear();
      AppendDelimited(scratch_, &frame_);
      framed = true;
    }
    if (conns_->Queued(s.conn) + frame_.size() > limits_.queue_bytes) {
      ++s.dropped;
      ++d.dropped;
      ++i;
      continue;
    }
    conns_->Append(s.conn, frame_);
    ++s.captured;
    ++d.captured;
    if (s.captured >= s.count) {
      End(i, "count reached");  // sessions_[i] is the next one now
      continue;
    }
    ++i;
  }
}

void CaptureSet::OnHangup(int conn) {
  for (size_t i = 0; i < sessions_.size(); ++i) {
    if (sessions_[i].conn == conn) {
      End(i, "stopped by the client");
      return;
    }
  }
}

void CaptureSet::EndAll(const char* why) {
  while (!sessions_.empty()) End(sessions_.size() - 1, why);
}

void CaptureSet::End(size_t i, const char* why) {
  const Session s = sessions_[i];
  sessions_.erase(sessions_.begin() + static_cast<ptrdiff_t>(i));
  Device& d = devices_[s.target];
  if (--d.sessions == 0) d.target.set_tap(nullptr);
  control::Response last;
  last.set_ok(true);
  FillCapture(s, last.mutable_capture());
  last.mutable_capture()->set_end(why);
  std::string bytes;
  AppendDelimited(last, &bytes);
  // Past the queue's bound: the last message is small and always sent.
  conns_->Append(s.conn, bytes);
  conns_->Finish(s.conn);
  Log("control: capture on %s ended (%s): %d packet(s), %d dropped",
      Describe(d.target), why, s.captured, s.dropped);
}

void CaptureSet::FillCapture(const Session& s, control::Capture* out) const {
  const Target& t = devices_[s.target].target;
  out->set_name(t.name);
  out->set_device(t.device);
  out->set_netns(t.netns);
  out->set_count(s.count);
  out->set_captured(s.captured);
  out->set_dropped(s.dropped);
}

void CaptureSet::FillDeviceStats(size_t index,
                                 control::DeviceStats* out) const {
  if (index >= devices_.size() || !devices_[index].live) return;
  const Device& d = devices_[index];
  out->set_captures(d.sessions);
  out->set_captured(d.captured);
  out->set_capture_dropped(d.dropped);
}

}  // namespace unat::tun
