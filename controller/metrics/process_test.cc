#include "metrics/process.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <ctime>
#include <regex>
#include <string>

namespace coderun::metrics {
namespace {

// The value of an unlabelled sample `name` in `text`, or -1.
double Value(const std::string& text, const std::string& name) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex("\n" + name + " ([-0-9.e+]+)\n"))) return -1;
  return std::stod(m[1]);
}

TEST(ProcessMetricsTest, ReportThisProcess) {
  Registry registry;
  ASSERT_TRUE(RegisterProcessMetrics(registry).ok());
  // Burn a little CPU so that the counter has something to count.
  volatile double x = 0;
  for (int i = 0; i < 20000000; ++i) x = x + i;
  const std::string text = "\n" + registry.Render();
  EXPECT_GT(Value(text, "process_cpu_seconds_total"), 0) << text;
  EXPECT_GT(Value(text, "process_resident_memory_bytes"), 1 << 20) << text;
  EXPECT_GE(Value(text, "process_virtual_memory_bytes"), Value(text, "process_resident_memory_bytes"));
  const double start = Value(text, "process_start_time_seconds");
  EXPECT_LE(start, std::time(nullptr) + 1) << text;
  EXPECT_GT(start, std::time(nullptr) - 3600) << text;  // this test binary started just now
  EXPECT_GE(Value(text, "process_open_fds"), 3) << text;  // stdin, stdout, stderr at least
  EXPECT_NE(text.find("# TYPE process_cpu_seconds_total counter"), std::string::npos);
  EXPECT_FALSE(RegisterProcessMetrics(registry).ok());  // the names are taken
}

}  // namespace
}  // namespace coderun::metrics
