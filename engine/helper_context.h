// The HelperContext a PacketHelper talks to while it handles one packet of
// its flow: the engine's clock, expectations and related flows tied to that
// flow (under the helper's ExpectationPolicy), and the ALG payload editor. Made
// on the stack for each helper call; it holds no state of its own.
#pragma once

#include "engine/alg.h"
#include "engine/helper.h"
#include "engine/nat.h"

namespace unat {
namespace internal {

class EngineHelperContext final : public HelperContext {
 public:
  EngineHelperContext(Nat::Impl& engine, AlgEditor& editor, FlowId flow,
                      TimeMs now)
      : engine_(engine), editor_(editor), flow_(flow), now_(now) {}

  TimeMs now() const override { return now_; }
  absl::StatusOr<ExternalEndpoint> Expect(const ExpectationSpec& spec) override;
  absl::StatusOr<ExternalEndpoint> ExpectPair(
      const ExpectationSpec& spec) override;
  uint32_t Unexpect(uint8_t proto, uint16_t external_port) override;
  absl::Status HoldFlow(uint32_t seconds) override;
  std::span<uint8_t> Payload() override { return editor_.Payload(); }
  absl::Status ReplacePayload(size_t offset, size_t length,
                              std::string_view bytes) override {
    return editor_.Replace(offset, length, bytes);
  }
  size_t PayloadCapacity() const override { return editor_.PayloadCapacity(); }
  std::string& FlowState() override { return editor_.FlowState(); }
  absl::Status ExpectOutbound(uint8_t proto, uint32_t remote_addr,
                              uint16_t remote_port, uint32_t timeout_s,
                              PacketHelper* helper) override;
  absl::StatusOr<ExternalEndpoint> ReserveRelated(
      uint8_t proto, uint16_t inside_port) override;
  absl::StatusOr<FlowId> OpenRelated(uint8_t proto, uint16_t inside_port,
                                     uint16_t remote_port) override;
  bool CloseRelated(uint8_t proto, uint16_t inside_port) override;

 private:
  Nat::Impl& engine_;
  AlgEditor& editor_;
  FlowId flow_;
  TimeMs now_;
};

}  // namespace internal
}  // namespace unat
