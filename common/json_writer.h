#pragma once

// JsonWriter: builds compact JSON text for --json output, JSON log lines and new Delta actions.
// Keys are written in the order given. Not a validator: callers pair Begin/End calls.
//
//   JsonWriter w;
//   w.BeginObject().Key("job").String("sales").Key("lag").Int(3).EndObject();
//   w.str() == R"({"job":"sales","lag":3})"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace lakesync {

class JsonWriter {
 public:
  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Double(double value);
  JsonWriter& Bool(bool value);
  JsonWriter& Null();
  // Inserts already-serialised JSON as a value.
  JsonWriter& Raw(std::string_view json);
  template <typename T>
  JsonWriter& Optional(const std::optional<T>& v) {
    if (!v) return Null();
    if constexpr (std::is_same_v<T, std::string>)
      return String(*v);
    else
      return Int(static_cast<int64_t>(*v));
  }

  const std::string& str() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  void BeforeValue();

  std::string out_;
  // Per open container: whether a value has been written (for commas).
  std::vector<bool> has_value_;
  bool after_key_ = false;
};

}  // namespace lakesync
