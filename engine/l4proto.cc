// The protocol table (see engine/l4proto.h): one entry per tracked
// protocol, in the order of UNAT_TRACKED_PROTOCOLS.
#include "engine/l4proto.h"

namespace unat {
namespace internal {

#define UNAT_DECLARE_PROTO(number, name) extern const L4Proto k##name##Proto;
UNAT_TRACKED_PROTOCOLS(UNAT_DECLARE_PROTO)
#undef UNAT_DECLARE_PROTO

#define UNAT_PROTO_ENTRY(number, name) &k##name##Proto,
const L4Proto* const kL4ProtoTable[kNumProtos] = {
    UNAT_TRACKED_PROTOCOLS(UNAT_PROTO_ENTRY)};
#undef UNAT_PROTO_ENTRY

}  // namespace internal
}  // namespace unat
