#include "scenarios.h"

#include <cstdint>

#include "echo.pb.h"

namespace gryphon::bench {

const std::vector<std::string>& scenario_names() {
  static const std::vector<std::string> kNames = {"string_100B", "string_1kB", "complex_proto"};
  return kNames;
}

static std::string text_of_size(std::size_t size) {
  static constexpr std::string_view kAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::string text;
  text.reserve(size);
  for (std::size_t i = 0; i < size; ++i) {
    text.push_back(kAlphabet[i % kAlphabet.size()]);
  }
  return text;
}

std::optional<std::string> scenario_payload(std::string_view name) {
  EchoRequest request;
  if (name == "string_100B") {
    request.set_message(text_of_size(100));
  } else if (name == "string_1kB") {
    request.set_message(text_of_size(1000));
  } else if (name == "complex_proto") {
    Complex* complex = request.mutable_complex();
    complex->set_name("a name");
    complex->set_d(4.55332);
    complex->set_f(232.3f);
    complex->set_b(true);
    complex->set_n(32);
    complex->set_l(444325235223);
    complex->set_c1("of course");
    Pet* dog = complex->add_pets();
    dog->set_name("Bof the dog");
    dog->set_color(Pet::BLUE);
    Pet* cat = complex->add_pets();
    cat->set_name("Kim the cat");
    cat->set_color(Pet::RED);
  } else {
    return std::nullopt;
  }
  return request.SerializeAsString();
}

std::string grpc_frame(std::string_view message) {
  auto length = static_cast<std::uint32_t>(message.size());
  std::string frame;
  frame.reserve(5 + message.size());
  frame.push_back('\0');
  for (int shift = 24; shift >= 0; shift -= 8) {
    frame.push_back(static_cast<char>((length >> shift) & 0xff));
  }
  frame.append(message);
  return frame;
}

}  // namespace gryphon::bench
