#pragma once

// How the CLI finds and opens the state store: `state.postgres` from the configuration when
// present, else the LAKESYNC_DATABASE_URL environment variable.

#include <memory>
#include <string>

#include "common/status.h"
#include "db/pg_state_store.h"
#include "runner/config.h"

namespace lakesync::runner {

// InvalidArgument when neither is set (the message says what to set).
Result<std::string> ResolveDatabaseUrl(const Config* config);

// Connects and checks the schema is migrated (unless `require_schema` is false).
// Unavailable when the server cannot be reached or has no lakesync schema.
// Messages never contain the password.
Result<std::unique_ptr<db::PgStateStore>> OpenStateStore(const Config* config,
                                                         bool require_schema = true);

// What OpenStateStore says of a database that was never migrated (its password masked).
Status NoSchemaError(const std::string& url);

}  // namespace lakesync::runner
