#include "reconcile/quantity.h"

#include <gtest/gtest.h>

#include "nlohmann/json.hpp"

namespace coderun::reconcile {
namespace {

std::int64_t Milli(std::string_view text) {
  auto q = ParseQuantity(text);
  EXPECT_TRUE(q.ok()) << text << ": " << q.status();
  return q.ok() ? q->milli : -1;
}

TEST(QuantityTest, ParsesDecimalAndBinarySuffixes) {
  EXPECT_EQ(Milli("1"), 1000);
  EXPECT_EQ(Milli("500m"), 500);
  EXPECT_EQ(Milli("1.5"), 1500);
  EXPECT_EQ(Milli("0.25"), 250);
  EXPECT_EQ(Milli("2k"), 2000000);
  EXPECT_EQ(Milli("256Mi"), std::int64_t{256} * 1024 * 1024 * 1000);
  EXPECT_EQ(Milli("1Gi"), (std::int64_t{1} << 30) * 1000);
  EXPECT_EQ(Milli("1G"), std::int64_t{1000000000} * 1000);
  EXPECT_EQ(Milli("1e3"), 1000000);
  EXPECT_EQ(Milli("+3"), 3000);
  EXPECT_EQ(Milli(".5"), 500);
}

TEST(QuantityTest, RoundsSubMilliUp) {
  EXPECT_EQ(Milli("0.0001"), 1);
  EXPECT_EQ(Milli("1.0001"), 1001);
  EXPECT_EQ(Milli("1.0000"), 1000);
}

TEST(QuantityTest, RefusesGarbageNegativeAndOverflow) {
  for (const char* bad : {"", "lots", "1x", "-1", "1.2.3", "Mi", "1Ki2", "1e", "1e99999", "m",
                          "99999999999999999999", "9Ei"}) {
    EXPECT_FALSE(ParseQuantity(std::string_view(bad)).ok()) << bad;
  }
}

// A quantity written as a JSON number reaches the parser as the number's JSON text
// (DecodeCodeRun), so those texts must parse.
TEST(QuantityTest, AcceptsJsonNumbersAsText) {
  EXPECT_EQ(ParseQuantity(std::string_view(nlohmann::json(2).dump()))->milli, 2000);
  EXPECT_EQ(ParseQuantity(std::string_view(nlohmann::json(0.5).dump()))->milli, 500);
  EXPECT_EQ(ParseQuantity(std::string_view(nlohmann::json(1e3).dump()))->milli, 1000000);
  EXPECT_FALSE(ParseQuantity(std::string_view(nlohmann::json(-1).dump())).ok());
}

TEST(QuantityTest, FormatsMilli) {
  EXPECT_EQ(FormatMilli(1000), "1");
  EXPECT_EQ(FormatMilli(1500), "1500m");
  EXPECT_EQ(Quantity{1500}.Value(), 2);
}

}  // namespace
}  // namespace coderun::reconcile
