#include "db/memory_state_store.h"

#include <map>
#include <set>
#include <thread>

#include <gtest/gtest.h>

#include "db/state_store_contract_test.h"

namespace lakesync::db {
namespace {

struct MemoryFactory {
  std::unique_ptr<StateStore> Make() { return std::make_unique<MemoryStateStore>(); }
  std::string SkipReason() { return ""; }
};

INSTANTIATE_TYPED_TEST_SUITE_P(Memory, StateStoreContractTest, MemoryFactory);

TEST(MemoryStateStoreTest, SyncJobsUpsertsAndKeepsUnlistedJobs) {
  MemoryStateStore store;
  ASSERT_TRUE(store.SyncJobs({{"a", "incremental"}, {"b", "snapshot"}}).ok());
  ASSERT_TRUE(store.SyncJobs({{"a", "consolidation"}}).ok());
  std::map<std::string, std::string> expected = {{"a", "consolidation"}, {"b", "snapshot"}};
  EXPECT_EQ(store.Jobs(), expected);
}

TEST(MemoryStateStoreTest, ConcurrentStartsGetDistinctIds) {
  MemoryStateStore store;
  constexpr int kThreads = 4, kPerThread = 50;
  std::vector<std::thread> threads;
  std::vector<std::vector<int64_t>> ids(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        Result<int64_t> id =
            store.StartRun(RunStart{"j", "incremental", Trigger::kSchedule, 1, "r", {}});
        if (id.ok()) ids[t].push_back(*id);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::set<int64_t> all;
  for (const auto& v : ids) all.insert(v.begin(), v.end());
  // 200 starts, 200 distinct ids, numbered 1..200.
  EXPECT_EQ(all.size(), 200u);
  EXPECT_EQ(*all.begin(), 1);
  EXPECT_EQ(*all.rbegin(), 200);
  Result<std::vector<RunRecord>> runs = store.ListRuns("j", 1000);
  ASSERT_TRUE(runs.ok());
  EXPECT_EQ(runs->size(), 200u);
}

}  // namespace
}  // namespace lakesync::db
