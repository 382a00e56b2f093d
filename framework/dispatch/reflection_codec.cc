// ServerReflectionRequest / ServerReflectionResponse by hand (v1alpha and v1 are the same on the
// wire): ReflectionService::parse_request and encode_response.
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/wire_format_lite.h>

#include <string_view>

#include "dispatch/reflection_service.h"

namespace gryphon::internal {
namespace {

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedInputStream;
using google::protobuf::io::CodedOutputStream;

// Structurally valid UTF-8, as protobuf requires of proto3 strings: no overlong forms, no
// surrogates, nothing above U+10FFFF.
bool valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    if (byte < 0x80) {
      ++i;
      continue;
    }
    int length = 0;
    std::uint32_t code = 0;
    if ((byte & 0xe0) == 0xc0) {
      length = 2;
      code = byte & 0x1f;
    } else if ((byte & 0xf0) == 0xe0) {
      length = 3;
      code = byte & 0x0f;
    } else if ((byte & 0xf8) == 0xf0) {
      length = 4;
      code = byte & 0x07;
    } else {
      return false;
    }
    if (text.size() - i < static_cast<std::size_t>(length)) return false;
    for (int k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) return false;
      code = (code << 6) | (next & 0x3f);
    }
    static constexpr std::uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (code < kSmallest[length] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff))
      return false;
    i += length;
  }
  return true;
}

bool read_string(CodedInputStream& in, std::string* value) {
  return WireFormatLite::ReadString(&in, value) && valid_utf8(*value);
}

// ExtensionRequest{string containing_type = 1; int32 extension_number = 2}, up to the limit
// pushed by the caller. Fields already set stay unless present again (a repeated message merges).
bool parse_extension_request(CodedInputStream& in, ReflectionRequest* request) {
  while (in.BytesUntilLimit() > 0) {
    const std::uint32_t tag = in.ReadTag();
    if (tag == 0) return false;
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    const auto type = WireFormatLite::GetTagWireType(tag);
    if (field == 1 && type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      if (!read_string(in, &request->name)) return false;
    } else if (field == 2 && type == WireFormatLite::WIRETYPE_VARINT) {
      std::uint32_t value = 0;
      if (!in.ReadVarint32(&value)) return false;
      request->extension_number = static_cast<std::int32_t>(value);
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool ReflectionService::parse_request(const std::string& bytes, ReflectionRequest* request) {
  using Kind = ReflectionRequest::Kind;
  *request = {};
  CodedInputStream in(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                      static_cast<int>(bytes.size()));
  while (in.CurrentPosition() < static_cast<int>(bytes.size())) {
    const std::uint32_t tag = in.ReadTag();
    if (tag == 0) return false;
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    // A known field with another wire type is an unknown field, as protobuf's own parser has it.
    if (WireFormatLite::GetTagWireType(tag) != WireFormatLite::WIRETYPE_LENGTH_DELIMITED ||
        field < 1 || field > 7 || field == 2) {
      if (!WireFormatLite::SkipField(&in, tag)) return false;
      continue;
    }
    if (field == 1) {
      if (!read_string(in, &request->host)) return false;
      continue;
    }
    // A oneof: the last member on the wire wins; the same message member twice merges.
    if (field == 5) {
      if (request->kind != Kind::kFileContainingExtension) {
        request->kind = Kind::kFileContainingExtension;
        request->name.clear();
        request->extension_number = 0;
      }
      std::uint32_t length = 0;
      if (!in.ReadVarint32(&length) ||
          length > bytes.size() - static_cast<std::size_t>(in.CurrentPosition())) {
        return false;
      }
      const auto limit = in.PushLimit(static_cast<int>(length));
      if (!parse_extension_request(in, request)) return false;
      in.PopLimit(limit);
      continue;
    }
    static constexpr Kind kKinds[] = {Kind::kNone,
                                      Kind::kNone,
                                      Kind::kNone,
                                      Kind::kFileByFilename,
                                      Kind::kFileContainingSymbol,
                                      Kind::kNone,
                                      Kind::kAllExtensionNumbersOfType,
                                      Kind::kListServices};
    request->kind = kKinds[field];
    request->extension_number = 0;
    if (!read_string(in, &request->name)) return false;
  }
  return true;
}

std::string ReflectionService::encode_response(const ReflectionResponse& response) {
  using Kind = ReflectionResponse::Kind;
  // Each nested message is encoded on its own, then written as a length-delimited field.
  auto encode = [](auto&& write) {
    std::string out;
    {
      google::protobuf::io::StringOutputStream raw(&out);
      CodedOutputStream coded(&raw);
      write(coded);
    }
    return out;
  };
  std::string body;
  switch (response.kind) {
    case Kind::kFileDescriptors:
      body = encode([&](CodedOutputStream& out) {
        for (const auto& file : response.files) WireFormatLite::WriteBytes(1, file, &out);
      });
      break;
    case Kind::kExtensionNumbers:
      body = encode([&](CodedOutputStream& out) {
        if (!response.base_type_name.empty())
          WireFormatLite::WriteString(1, response.base_type_name, &out);
        if (response.extension_numbers.empty()) return;
        std::size_t packed = 0;  // repeated int32 in proto3 is packed
        for (const std::int32_t number : response.extension_numbers)
          packed += WireFormatLite::Int32Size(number);
        WireFormatLite::WriteTag(2, WireFormatLite::WIRETYPE_LENGTH_DELIMITED, &out);
        out.WriteVarint32(static_cast<std::uint32_t>(packed));
        for (const std::int32_t number : response.extension_numbers)
          WireFormatLite::WriteInt32NoTag(number, &out);
      });
      break;
    case Kind::kServices:
      body = encode([&](CodedOutputStream& out) {
        for (const auto& name : response.services) {
          const std::string service = encode([&](CodedOutputStream& inner) {
            if (!name.empty()) WireFormatLite::WriteString(1, name, &inner);
          });
          WireFormatLite::WriteBytes(1, service, &out);
        }
      });
      break;
    case Kind::kError:
      body = encode([&](CodedOutputStream& out) {
        if (response.error_code != 0) WireFormatLite::WriteInt32(1, response.error_code, &out);
        if (!response.error_message.empty())
          WireFormatLite::WriteString(2, response.error_message, &out);
      });
      break;
  }
  static constexpr int kFields[] = {4, 5, 6, 7};  // by Kind
  return encode([&](CodedOutputStream& out) {
    if (!response.valid_host.empty()) WireFormatLite::WriteString(1, response.valid_host, &out);
    WireFormatLite::WriteBytes(2, response.original_request, &out);
    WireFormatLite::WriteBytes(kFields[static_cast<int>(response.kind)], body, &out);
  });
}

}  // namespace gryphon::internal
