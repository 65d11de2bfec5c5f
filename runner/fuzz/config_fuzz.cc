// libFuzzer target: arbitrary bytes as a configuration file. The loader must return a Config or
// an InvalidArgument whose message names the file, never crash, hang, throw or read out of
// bounds; and a value it rejects must never be echoed from an environment reference (secrets).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "runner/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view yaml(reinterpret_cast<const char*>(data), size);
  // Every ${NAME} resolves to the same secret; it must never appear in an error message.
  static const std::string kSecret = "s3cr3t-f0r-fuzz";
  auto env = [](std::string_view name) -> std::optional<std::string> {
    if (name == "UNSET") return std::nullopt;
    return kSecret;
  };
  auto config = lakesync::runner::LoadConfigString(yaml, "fuzz.yaml", env);
  if (config.ok()) {
    for (const auto& job : config->jobs) {
      (void)job.SourceUris();
      (void)job.TargetUris();
      (void)job.schedule.Describe();
    }
    return 0;
  }
  const std::string& message = config.status().message();
  // (Text written in the file itself may be quoted back; an interpolated value may not.)
  if (message.find(kSecret) != std::string::npos && yaml.find(kSecret) == std::string::npos) {
    std::fprintf(stderr, "secret in message: %s\n", message.c_str());
    std::abort();
  }
  if (message.rfind("fuzz.yaml", 0) != 0 && message.find("fuzz.yaml") == std::string::npos) {
    std::abort();  // every problem is reported as FILE:LINE:COL: ...
  }
  return 0;
}
