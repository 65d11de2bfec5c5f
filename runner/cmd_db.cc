#include <spdlog/spdlog.h>
#include <ostream>

#include "runner/command_util.h"
#include "runner/commands.h"
#include "runner/exit_codes.h"
#include "runner/state_connection.h"

namespace lakesync::runner {

int CmdDbMigrate(const GlobalOptions& g, std::ostream& out, std::ostream& err) {
  // The configuration is optional here: without one, LAKESYNC_DATABASE_URL names the database.
  std::optional<Config> config;
  if (!g.config_path.empty()) {
    Result<Config> loaded = LoadConfigFile(g.config_path);
    if (!loaded.ok()) return ReportError(loaded.status(), err, kExitUsage);
    config = std::move(loaded).value();
  }
  auto store = OpenStateStore(config ? &*config : nullptr, /*require_schema=*/false);
  if (!store.ok()) {
    return ReportStoreOpenError(store.status(), err);
  }
  auto report = (*store)->Migrate();
  if (!report.ok()) return ReportError(report.status(), err, kExitStateStore);
  if (report->applied.empty()) {
    out << "schema is up to date at version " << report->to_version << "\n";
  } else {
    out << "migrated schema from version " << report->from_version << " to " << report->to_version
        << " (applied";
    for (int v : report->applied) out << " " << v;
    out << ")\n";
  }
  return kExitOk;
}

}  // namespace lakesync::runner
