#include "runner/state_connection.h"

#include <cstdlib>

#include "common/redact.h"

namespace lakesync::runner {

Result<std::string> ResolveDatabaseUrl(const Config* config) {
  if (config != nullptr && config->state.postgres && !config->state.postgres->empty()) {
    return *config->state.postgres;
  }
  const char* env = std::getenv("LAKESYNC_DATABASE_URL");
  if (env != nullptr && *env != '\0') return std::string(env);
  return Status::InvalidArgument(
      "no state store configured: set state.postgres in the configuration file or export "
      "LAKESYNC_DATABASE_URL=postgresql://user:password@host:5432/dbname");
}

Result<std::unique_ptr<db::PgStateStore>> OpenStateStore(const Config* config,
                                                         bool require_schema) {
  LAKESYNC_ASSIGN_OR_RETURN(std::string url, ResolveDatabaseUrl(config));
  LAKESYNC_ASSIGN_OR_RETURN(auto store, db::PgStateStore::Connect(url));
  if (require_schema) {
    LAKESYNC_ASSIGN_OR_RETURN(int version, store->SchemaVersion());
    if (version == 0) return NoSchemaError(url);
  }
  return store;
}

Status NoSchemaError(const std::string& url) {
  return Status::Unavailable("the state store at " + RedactConnectionString(url) +
                             " has no lakesync schema yet; run `lakesync db migrate` first")
      .WithRetryable(false);
}

}  // namespace lakesync::runner
