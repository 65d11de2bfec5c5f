#include "delta/protocol.h"

#include <algorithm>
#include <array>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <simdjson.h>

#include "delta/actions.h"

namespace lakesync::delta {
namespace {

constexpr FeatureKind kW = FeatureKind::kWriterOnly;
constexpr FeatureKind kRW = FeatureKind::kReaderWriter;

// From PROTOCOL.md's feature table and the preview names Delta Spark / delta-kernel-rs accept.
constexpr std::array kFeatures = {
    FeatureInfo{"appendOnly", kW, false},
    FeatureInfo{"invariants", kW, false},
    FeatureInfo{"checkConstraints", kW, false},
    FeatureInfo{"changeDataFeed", kW, false},
    FeatureInfo{"generatedColumns", kW, false},
    FeatureInfo{"identityColumns", kW, false},
    FeatureInfo{"columnMapping", kRW, false},
    FeatureInfo{"deletionVectors", kRW, false},
    FeatureInfo{"rowTracking", kW, false},
    FeatureInfo{"domainMetadata", kW, false},
    FeatureInfo{"clustering", kW, false},
    FeatureInfo{"timestampNtz", kRW, false},
    FeatureInfo{"v2Checkpoint", kRW, false},
    FeatureInfo{"vacuumProtocolCheck", kRW, false},
    FeatureInfo{"inCommitTimestamp", kW, false},
    FeatureInfo{"typeWidening", kRW, false},
    FeatureInfo{"typeWidening-preview", kRW, false},
    FeatureInfo{"variantType", kRW, false},
    FeatureInfo{"variantType-preview", kRW, false},
    FeatureInfo{"variantShredding-preview", kRW, false},
    FeatureInfo{"collations-preview", kRW, false},
    FeatureInfo{"icebergCompatV1", kW, false},
    FeatureInfo{"icebergCompatV2", kW, false},
    FeatureInfo{"icebergWriterCompatV1", kW, false},
    FeatureInfo{"materializePartitionColumns", kW, false},
    FeatureInfo{"allowColumnDefaults", kW, false},
    FeatureInfo{"catalogManaged", kRW, true},
    FeatureInfo{"catalogOwned-preview", kRW, true},
    FeatureInfo{"coordinatedCommits-preview", kW, true},
    FeatureInfo{"redirectReaderWriter-preview", kRW, true},
    FeatureInfo{"redirectWriterOnly-preview", kW, true},
};

std::string CatalogMessage(const std::vector<std::string>& names) {
  return fmt::format(
      "the table uses {} — its recent commits live in a catalog or commit coordinator, or it "
      "redirects to another location, so its storage alone is not the table; lakesync only "
      "handles path-based tables: point it at a table without these features (or disable "
      "them on the source)",
      fmt::join(names, ", "));
}

}  // namespace

const FeatureInfo* FindFeature(std::string_view name) {
  for (const auto& f : kFeatures) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::set<std::string> ReaderFeatures(const Protocol& p) {
  std::set<std::string> out;
  if (p.min_reader_version >= 3) {
    if (p.reader_features) out.insert(p.reader_features->begin(), p.reader_features->end());
  } else if (p.min_reader_version == 2) {
    out.insert("columnMapping");
  }
  return out;
}

std::set<std::string> WriterFeatures(const Protocol& p) {
  std::set<std::string> out;
  const int w = p.min_writer_version;
  if (w >= 7) {
    if (p.writer_features) out.insert(p.writer_features->begin(), p.writer_features->end());
    return out;
  }
  if (w >= 2) out.insert({"appendOnly", "invariants"});
  if (w >= 3) out.insert("checkConstraints");
  if (w >= 4) out.insert({"changeDataFeed", "generatedColumns"});
  if (w >= 5) out.insert("columnMapping");
  if (w >= 6) out.insert("identityColumns");
  return out;
}

Status CheckReadable(const Protocol& protocol) {
  if (protocol.min_reader_version > 3) {
    return Status::Unsupported(fmt::format(
        "the table needs reader version {}, newer than the highest lakesync knows (3); upgrade "
        "lakesync",
        protocol.min_reader_version));
  }
  std::vector<std::string> unknown;
  std::vector<std::string> catalog;
  for (const auto& name : ReaderFeatures(protocol)) {
    const FeatureInfo* f = FindFeature(name);
    if (!f) {
      unknown.push_back(name);
    } else if (f->catalog_or_redirect) {
      catalog.push_back(name);
    }
  }
  // Writer-only catalog features still make the storage an incomplete view for readers.
  for (const auto& name : WriterFeatures(protocol)) {
    const FeatureInfo* f = FindFeature(name);
    if (f && f->catalog_or_redirect && name != "redirectWriterOnly-preview" &&
        std::find(catalog.begin(), catalog.end(), name) == catalog.end()) {
      catalog.push_back(name);
    }
  }
  if (!catalog.empty()) return Status::Unsupported(CatalogMessage(catalog));
  if (!unknown.empty()) {
    return Status::Unsupported(fmt::format(
        "the table requires reader feature(s) lakesync does not know: {}; upgrade lakesync or "
        "choose another table",
        fmt::join(unknown, ", ")));
  }
  return Status::OK();
}

Status CheckWritable(const Protocol& protocol, const std::set<std::string>& honoured) {
  LAKESYNC_RETURN_IF_ERROR(CheckReadable(protocol));
  if (protocol.min_writer_version > 7) {
    return Status::Unsupported(fmt::format(
        "the table needs writer version {}, newer than the highest lakesync knows (7); upgrade "
        "lakesync",
        protocol.min_writer_version));
  }
  std::vector<std::string> catalog;
  std::vector<std::string> unknown;
  std::vector<std::string> unhonoured;
  auto writer = WriterFeatures(protocol);
  auto reader = ReaderFeatures(protocol);
  writer.insert(reader.begin(), reader.end());
  for (const auto& name : writer) {
    const FeatureInfo* f = FindFeature(name);
    if (f && f->catalog_or_redirect) {
      catalog.push_back(name);
    } else if (honoured.count(name)) {
      continue;
    } else if (!f) {
      unknown.push_back(name);
    } else {
      unhonoured.push_back(name);
    }
  }
  if (!catalog.empty()) return Status::Unsupported(CatalogMessage(catalog));
  if (!unknown.empty()) {
    return Status::Unsupported(fmt::format(
        "the table requires writer feature(s) lakesync does not know: {}; refusing to write "
        "commits it cannot honour — upgrade lakesync",
        fmt::join(unknown, ", ")));
  }
  if (!unhonoured.empty()) {
    return Status::Unsupported(fmt::format(
        "the table requires writer feature(s) this writer cannot honour: {}; refusing to write "
        "commits that would break them",
        fmt::join(unhonoured, ", ")));
  }
  return Status::OK();
}

Result<std::optional<Protocol>> ProtocolOfChecksum(int64_t version, std::string_view crc_json) {
  const std::string file = fmt::format("{:020}.crc", version);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::dom::object object;
  if (parser.parse(crc_json.data(), crc_json.size()).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(object) != simdjson::SUCCESS) {
    return Status::Corruption(file + " is not a JSON object");
  }
  simdjson::dom::element value;
  if (object.at_key("protocol").get(value) != simdjson::SUCCESS) {
    return std::optional<Protocol>();
  }
  const std::string raw = simdjson::minify(value);
  // The same object a protocol action holds: parsed by the action parser.
  const std::string line = "{\"protocol\":" + raw + "}\n";
  std::optional<Protocol> out;
  Status st = ForEachAction(version, line, [&](Action&& action) -> Status {
    if (auto* p = std::get_if<Protocol>(&action)) out = std::move(*p);
    return Status::OK();
  });
  if (!st.ok()) return Status::Corruption(file + ": " + st.message());
  return out;
}

}  // namespace lakesync::delta
