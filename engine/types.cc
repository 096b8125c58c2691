#include "engine/types.h"

namespace unat {

const char* ProtoName(uint8_t proto) {
  switch (proto) {
    case kProtoTcp:
      return "tcp";
    case kProtoUdp:
      return "udp";
    case kProtoIcmp:
      return "icmp";
    case kProtoGre:
      return "gre";
    default:
      return "other";
  }
}

const char* DropReasonName(DropReason reason) {
  switch (reason) {
    case DropReason::kNone:
      return "none";
    case DropReason::kTruncated:
      return "truncated";
    case DropReason::kBadVersion:
      return "bad_version";
    case DropReason::kBadIhl:
      return "bad_ihl";
    case DropReason::kBadTotalLength:
      return "bad_total_length";
    case DropReason::kBadIpChecksum:
      return "bad_ip_checksum";
    case DropReason::kBadL4Header:
      return "bad_l4_header";
    case DropReason::kUnsupportedProto:
      return "unsupported_protocol";
    case DropReason::kFragment:
      return "fragment_to_nat";
    case DropReason::kFragOverlap:
      return "fragment_overlap";
    case DropReason::kFragDuplicate:
      return "fragment_duplicate";
    case DropReason::kFragOversize:
      return "fragment_oversize";
    case DropReason::kFragTinyFirst:
      return "fragment_tiny_first";
    case DropReason::kFragMalformed:
      return "fragment_malformed";
    case DropReason::kFragDatagramLimit:
      return "fragment_datagram_limit";
    case DropReason::kFragFragmentLimit:
      return "fragment_count_limit";
    case DropReason::kFragMemoryLimit:
      return "fragment_memory_limit";
    case DropReason::kFragTimeout:
      return "fragment_timeout";
    case DropReason::kFragDatagramDropped:
      return "fragment_of_dropped_datagram";
    case DropReason::kNeedFragDf:
      return "needs_fragmentation_df_set";
    case DropReason::kMartian:
      return "martian";
    case DropReason::kTtlExpired:
      return "ttl_expired";
    case DropReason::kNoFlow:
      return "no_flow";
    case DropReason::kFiltered:
      return "filtered";
    case DropReason::kForwardDisabled:
      return "forward_disabled";
    case DropReason::kIcmpNoFlow:
      return "icmp_error_no_flow";
    case DropReason::kIcmpUnsupported:
      return "icmp_unsupported_type";
    case DropReason::kIcmpBadQuote:
      return "icmp_bad_quote";
    case DropReason::kTcpNotSyn:
      return "tcp_new_flow_not_syn";
    case DropReason::kTcpInvalidRst:
      return "tcp_rst_out_of_window";
    case DropReason::kNoPorts:
      return "no_free_port";
    case DropReason::kFlowLimit:
      return "flow_limit";
    case DropReason::kNamespaceFlowLimit:
      return "namespace_flow_limit";
    case DropReason::kHostFlowLimit:
      return "host_flow_limit";
    case DropReason::kHostPortLimit:
      return "host_port_limit";
    case DropReason::kUnknownNamespace:
      return "unknown_namespace";
    case DropReason::kLocalNoHelper:
      return "local_no_helper";
    case DropReason::kHelperDrop:
      return "helper_drop";
    case DropReason::kHairpinLoop:
      return "hairpin_loop";
    case DropReason::kNoExternalAddress:
      return "no_external_address";
    case DropReason::kSpoofedSource:
      return "spoofed_source";
    case DropReason::kBadIpOptions:
      return "bad_ip_options";
    case DropReason::kSourceRoute:
      return "source_route";
    case DropReason::kBadL4Checksum:
      return "bad_l4_checksum";
    case DropReason::kNamespacePortLimit:
      return "namespace_port_limit";
    case DropReason::kGreNoCall:
      return "gre_no_call";
    case DropReason::kGrePairBusy:
      return "gre_pair_busy";
    case DropReason::kCount:
      break;
  }
  return "unknown";
}

}  // namespace unat
