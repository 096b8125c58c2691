// libFuzzer target: the aligned PER reader (helpers/h323/per.h) on its own.
// The input is both program and data: each step reads 4 bits choosing a
// primitive (with bounds read from the input too) and decodes it from the
// same bits. Nothing may read past the input, a failed reader must stay
// failed and read as zero, and a span it hands out must lie in the input.
#include <cstdlib>
#include <span>

#include "helpers/h323/per.h"

namespace {

using unat::helpers::per::Reader;

void Inside(std::span<const uint8_t> s, const uint8_t* data, size_t size) {
  if (s.empty()) return;
  if (s.data() < data || s.data() + s.size() > data + size) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader r({data, size});
  uint8_t small[2];
  int depth = 0;
  for (int step = 0; step < 4096 && r.ok(); ++step) {
    const size_t before = r.bit_pos();
    const uint32_t lb = r.Bits(4);
    const uint32_t ub = lb + (1u << r.Bits(5)) - 1;
    switch (r.Bits(4)) {
      case 0:
        r.Constrained(lb, ub);
        break;
      case 1:
        r.Constrained(0, 0xffffffffffffffffull);
        break;
      case 2:
        r.NormallySmall();
        break;
      case 3:
        r.Length(lb, ub);
        break;
      case 4:
        r.SmallLength();
        break;
      case 5:
        r.UnconstrainedInt();
        break;
      case 6: {
        // Sizes of one or two octets come back copied into `small`.
        const auto s = r.OctetString(lb, ub, small);
        if (s.data() != small) Inside(s, data, size);
        if (s.size() > ub) abort();
        break;
      }
      case 7:
        r.SkipBitString(lb, ub);
        break;
      case 8:
        Inside(r.OpenType(1024), data, size);
        break;
      case 9:
        r.ChoiceIndex(lb, r.Bit());
        break;
      case 10:
        r.SkipObjectIdentifier();
        break;
      case 11:
        r.SkipCharString(lb, ub, r.Bit() ? 16 : 8);
        break;
      case 12:
        r.SkipExtensions();
        break;
      case 13:
        if (r.Enter()) ++depth;
        break;
      case 14:
        if (depth > 0) {
          r.Leave();
          --depth;
        }
        break;
      default:
        r.Align();
        break;
    }
    if (r.bit_pos() > size * 8) abort();
    if (r.ok() && r.bit_pos() == before) break;  // nothing consumed
  }
  if (!r.ok() && (r.bits_left() != 0 || r.Bits(8) != 0)) abort();
  return 0;
}
