#pragma once

// The lease row's query, shared by Coordination::GetLease and PgStateStore::ClaimRun (which
// sends it in a pipeline with the job lock). Internal to db/.

#include <optional>
#include <string_view>

#include "common/status.h"
#include "db/coordination.h"
#include "db/pg.h"

namespace lakesync::db {

pg::Statement LeaseStatement(std::string_view job);
// nullopt when the job was never leased.
Result<std::optional<LeaseInfo>> ParseLease(const pg::Rows& rows, std::string_view job);

}  // namespace lakesync::db
