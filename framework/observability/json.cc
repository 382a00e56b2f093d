#include "observability/json.h"

#include <cstdint>
#include <cstring>

namespace gryphon::internal {
namespace {

// Whether any byte of an 8-byte word is a control character, '"' or '\\' (bit tricks on the whole
// word: the escaper looks at every byte of every value, so it goes eight at a time).
bool word_needs_escape(std::uint64_t word) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHighs = 0x8080808080808080ULL;
  const auto has_zero_byte = [](std::uint64_t v) { return ((v - kOnes) & ~v & kHighs) != 0; };
  const bool below_space = ((word - kOnes * 0x20) & ~word & kHighs) != 0;
  return below_space || has_zero_byte(word ^ (kOnes * '"')) || has_zero_byte(word ^ (kOnes * '\\'));
}

// The position of the first byte JSON needs escaped, or value.size().
std::size_t first_to_escape(std::string_view value) {
  std::size_t i = 0;
  for (; i + 8 <= value.size(); i += 8) {
    std::uint64_t word;
    std::memcpy(&word, value.data() + i, 8);
    if (word_needs_escape(word)) break;
  }
  for (; i < value.size(); ++i) {
    const auto c = static_cast<unsigned char>(value[i]);
    if (c < 0x20 || c == '"' || c == '\\') return i;
  }
  return value.size();
}

}  // namespace

void append_json_string(std::string& out, std::string_view value) {
  static const char* hex = "0123456789abcdef";
  out += '"';
  // Copy the runs that need no escaping whole; most values are a single run.
  while (true) {
    const std::size_t i = first_to_escape(value);
    out.append(value.data(), i);
    if (i == value.size()) break;
    const auto c = static_cast<unsigned char>(value[i]);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        out += "\\u00";
        out += hex[(c >> 4) & 0xf];
        out += hex[c & 0xf];
    }
    value.remove_prefix(i + 1);
  }
  out += '"';
}

}  // namespace gryphon::internal
