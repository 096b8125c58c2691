// unatctl capture, unatd's side: which devices are tapped and, per capture,
// a bounded queue on the control connection that asked for it.
//
// A device nobody captures has no tap (TunDevice pays one branch per
// packet). A captured packet is copied into a CapturedPacket message queued
// on the capture's connection, if the queue has room; otherwise it is
// dropped and counted: a slow reader never holds up the packet path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "tun/control.pb.h"
#include "tun/control_server.h"
#include "tun/tun_device.h"

namespace unat::tun {

class CaptureSet {
 public:
  // A device captures may name.
  struct Target {
    std::string name;  // the namespace name, or "outside"
    std::string device;
    std::string netns;
    // Points the device's tap at its argument (null: no tap).
    std::function<void(PacketTap*)> set_tap;
  };
  struct Limits {
    size_t max_captures = 4;  // at once, over all devices
    // What a capture may have queued on its connection (messages the reader
    // has not taken); a packet that does not fit is dropped.
    size_t queue_bytes = size_t{1} << 20;
    uint32_t max_count = 100000000;
  };

  // Answers on `conns`, which must outlive the set; registers as its hangup
  // hook.
  CaptureSet(std::vector<Target> targets, StreamConnections* conns,
             Limits limits);
  CaptureSet(std::vector<Target> targets, StreamConnections* conns)
      : CaptureSet(std::move(targets), conns, Limits{}) {}
  // Detaches every tap and the hangup hook.
  ~CaptureSet();
  CaptureSet(const CaptureSet&) = delete;
  CaptureSet& operator=(const CaptureSet&) = delete;

  // Starts a capture whose stream goes to connection `conn`; `response`
  // (the stream's first message) gets the device. Or says why not: an
  // unknown or ambiguous device, a count out of range, too many captures.
  absl::Status Start(const control::CaptureRequest& request, int conn,
                     control::Response* response);

  // Ends every capture, each with its last message (unatd stopping).
  void EndAll(const char* why);

  // A device that came while running (a tenant added by a reload): target
  // `index`, free or past the end, names it from now on.
  void SetTarget(size_t index, Target target);
  // A device that goes (its tenant removed): its captures end with `why`,
  // its counters with it, and no capture can name it any more.
  void RemoveTarget(size_t index, const char* why);

  // The capture counters of target `index` (in the constructor's order).
  void FillDeviceStats(size_t index, control::DeviceStats* out) const;
  size_t active() const { return sessions_.size(); }

 private:
  struct Session {
    int conn;
    size_t target;
    uint32_t count;
    uint64_t captured = 0;
    uint64_t dropped = 0;
  };
  class Tap;  // a target's PacketTap
  struct Device {
    Target target;
    std::unique_ptr<Tap> tap;
    bool live = true;
    uint32_t sessions = 0;
    uint64_t captured = 0;
    uint64_t dropped = 0;
  };

  absl::StatusOr<size_t> Resolve(const std::string& name) const;
  void Record(size_t target, bool written, const uint8_t* data, size_t len);
  void OnHangup(int conn);
  // Sends the last message, asks for the connection to close, forgets the
  // session (sessions_[i]) and, with it the last on its device, the tap.
  void End(size_t i, const char* why);
  void FillCapture(const Session& s, control::Capture* out) const;

  std::vector<Device> devices_;
  StreamConnections* conns_;
  Limits limits_;
  std::vector<Session> sessions_;
  control::Response scratch_;  // a packet's message, reused
  std::string frame_;          // and its bytes
};

}  // namespace unat::tun
