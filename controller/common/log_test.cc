#include "common/log.h"

#include <gtest/gtest.h>

#include "nlohmann/json.hpp"

namespace coderun::log {
namespace {

TEST(LogTest, TextQuotesOnlyWhenNeeded) {
  std::string line = FormatRecord(Format::kText, Level::kInfo, "T", "relist",
                            {{"resource", "coderuns"}, {"reason", "Gone"}, {"error", "a b"}});
  EXPECT_EQ(line, "T info relist resource=coderuns reason=Gone error=\"a b\"");
}

TEST(LogTest, JsonIsOneValidObjectEvenForBadUtf8) {
  std::string line = FormatRecord(Format::kJson, Level::kWarn, "T", "bad", {{"excerpt", "\xff\xfe"}});
  auto parsed = nlohmann::json::parse(line);
  EXPECT_EQ(parsed["level"], "warn");
  EXPECT_EQ(parsed["msg"], "bad");
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace coderun::log
