#include "runner/job_kinds.h"

namespace lakesync::runner {

Result<JobOutcome> RunConsolidationJob(const Config&, const JobConfig& job, const ExecuteOptions&,
                                       db::StateStore&, jobs::RunObserver&) {
  return Status::Unsupported("job " + job.name +
                             " is a consolidation job; this version of lakesync " +
                             "does not run consolidation jobs yet");
}

std::vector<TargetLag> ProbeConsolidationLag(const JobConfig& job, TimePoint) {
  std::vector<TargetLag> out;
  for (const auto& name : job.TargetNames()) {
    TargetLag t;
    t.target = name;
    t.error = "lag of consolidation jobs is not measured by this version of lakesync";
    out.push_back(t);
  }
  return out;
}

}  // namespace lakesync::runner
