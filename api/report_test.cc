#include "api/report.h"

#include <gtest/gtest.h>

namespace coderun::api {
namespace {

Report Sample() {
  Report r;
  r.exit_code = 1;
  r.signal = 0;
  r.wall_millis = 21;
  r.cpu_millis = 18;
  r.max_rss_bytes = 9437184;
  r.stdout_text = "HELLO\n\"quoted\" \\ \x01 \xE2\x9C\x93\n";
  r.stderr_text = "Traceback ...\n";
  r.stdout_truncated = true;
  r.stdout_bytes = 1 << 20;
  r.stderr_bytes = 14;
  r.limit = Limit::kTime;
  r.runner_message = "note";
  r.landlock_abi = 7;
  return r;
}

std::string Parse(std::string_view log) {
  std::string error;
  auto report = ParseReport(log, &error);
  return report ? "ok" : error;
}

TEST(ReportTest, RoundTrips) {
  const std::string frame = FormatReport(Sample());
  std::string error;
  auto parsed = ParseReport(frame, &error);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(*parsed, Sample());
  EXPECT_TRUE(frame.starts_with("coderun-report/v1 "));
  EXPECT_TRUE(frame.ends_with("}\ncoderun-report-end\n"));
}

TEST(ReportTest, LandlockAbiIsOptionalForOlderRunnersAndChecked) {
  // A runner from before landlockAbi existed: the member is absent, the frame parses.
  const std::string old_doc =
      R"({"exitCode":0,"signal":0,"wallMillis":1,"cpuMillis":1,"maxRSSBytes":1,)"
      R"("stdout":"","stderr":"","stdoutTruncated":false,"stderrTruncated":false,)"
      R"("stdoutBytes":0,"stderrBytes":0,"limit":"","runnerMessage":"","runnerError":""})";
  const auto frame = [](const std::string& doc) {
    return "coderun-report/v1 " + std::to_string(doc.size()) + "\n" + doc +
           "\ncoderun-report-end\n";
  };
  std::string error;
  auto parsed = ParseReport(frame(old_doc), &error);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(parsed->landlock_abi, 0);
  std::string with_abi = old_doc;
  with_abi.insert(with_abi.size() - 1, R"(,"landlockAbi":6)");
  parsed = ParseReport(frame(with_abi), &error);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(parsed->landlock_abi, 6);
  std::string bad = old_doc;
  bad.insert(bad.size() - 1, R"(,"landlockAbi":"6")");
  EXPECT_EQ(Parse(frame(bad)), "member landlockAbi is not an integer");
  EXPECT_NE(FormatReport(Sample()).find(R"("landlockAbi":7)"), std::string::npos);
}

TEST(ReportTest, EveryLimitRoundTrips) {
  for (Limit l : {Limit::kNone, Limit::kTime, Limit::kMemory, Limit::kTerminated}) {
    Report r;
    r.limit = l;
    auto parsed = ParseReport(FormatReport(r), nullptr);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->limit, l);
  }
}

TEST(ReportTest, FrameStaysWithinMaxFrameBytes) {
  Report r;
  r.exit_code = 255;
  r.signal = 64;
  r.wall_millis = r.cpu_millis = r.max_rss_bytes = UINT64_MAX;
  r.stdout_bytes = r.stderr_bytes = UINT64_MAX;
  r.stdout_text = r.stderr_text = std::string(1000, 'x');
  r.runner_message = r.runner_error = std::string(100000, '\x01');
  r.limit = Limit::kTerminated;
  EXPECT_LE(FormatReport(r).size(), MaxFrameBytes(1000));
  auto parsed = ParseReport(FormatReport(r), nullptr);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->runner_message.size(), kMaxMessageBytes / 6);
}

TEST(ReportTest, InvalidUtf8IsRepairedWhenWritten) {
  Report r;
  r.stdout_text = "\xFF\xFE";
  auto parsed = ParseReport(FormatReport(r), nullptr);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->stdout_text, "\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(ReportTest, EveryCutShortLogIsRejected) {
  const std::string frame = FormatReport(Sample());
  for (size_t n = 0; n < frame.size(); ++n) {
    EXPECT_NE(Parse(frame.substr(0, n)), "ok") << n;
  }
}

TEST(ReportTest, DoubledOrPaddedFramesAreRejected) {
  const std::string frame = FormatReport(Sample());
  EXPECT_EQ(Parse(frame + frame), "extra data after the report");
  EXPECT_NE(Parse("x" + frame), "ok");
  EXPECT_NE(Parse(frame + "\n"), "ok");
}

TEST(ReportTest, GarbageIsRejected) {
  EXPECT_EQ(Parse(""), "empty log: no report");
  EXPECT_NE(Parse("Hello World\n"), "ok");
  EXPECT_NE(Parse(std::string(100000, '\xFF')), "ok");
  EXPECT_NE(Parse("coderun-report/v1 \n\ncoderun-report-end\n"), "ok");
  EXPECT_NE(Parse("coderun-report/v1 2\n{}\ncoderun-report-end\n"), "ok");  // members missing
  EXPECT_NE(Parse("coderun-report/v1 2\n[]\ncoderun-report-end\n"), "ok");
  EXPECT_NE(Parse("coderun-report/v1 02\n{}\ncoderun-report-end\n"), "ok");
  EXPECT_NE(Parse("coderun-report/v1 +2\n{}\ncoderun-report-end\n"), "ok");
  EXPECT_NE(Parse("coderun-report/v1 2\n{}\ncoderun-report-END\n"), "ok");
}

TEST(ReportTest, HugeLengthsAreRejectedWithoutReadingOn) {
  EXPECT_EQ(Parse("coderun-report/v1 99999999999\n{}\ncoderun-report-end\n"),
            "report header has a malformed length");
  EXPECT_EQ(Parse("coderun-report/v1 4294967295\n{}\ncoderun-report-end\n"), "report too large");
  EXPECT_NE(Parse("coderun-report/v1 1000\n{}\ncoderun-report-end\n"), "ok");
}

// Replaces `from` by `to` in the JSON of a valid frame and fixes the length.
std::string Edit(const std::string& from, const std::string& to) {
  const std::string frame = FormatReport(Sample());
  const size_t body = frame.find('\n') + 1;
  std::string json = frame.substr(body, frame.size() - body - 1 - kReportTrailer.size());
  const size_t at = json.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  json.replace(at, from.size(), to);
  return std::string(kReportHeader) + std::to_string(json.size()) + "\n" + json + "\n" +
         std::string(kReportTrailer);
}

TEST(ReportTest, WrongTypesAndRangesAreRejected) {
  EXPECT_EQ(Parse(Edit("\"exitCode\":1", "\"exitCode\":\"1\"")),
            "member exitCode is not an integer");
  EXPECT_EQ(Parse(Edit("\"exitCode\":1", "\"exitCode\":1.5")), "member exitCode is not an integer");
  EXPECT_EQ(Parse(Edit("\"exitCode\":1", "\"exitCode\":256")), "member exitCode is out of range");
  EXPECT_EQ(Parse(Edit("\"exitCode\":1", "\"exitCode\":-2")), "member exitCode is out of range");
  EXPECT_EQ(Parse(Edit("\"wallMillis\":21", "\"wallMillis\":-21")),
            "member wallMillis is not a non-negative integer");
  EXPECT_EQ(Parse(Edit("\"stdoutTruncated\":true", "\"stdoutTruncated\":1")),
            "member stdoutTruncated is not a boolean");
  EXPECT_EQ(Parse(Edit("\"limit\":\"time\"", "\"limit\":\"cpu\"")),
            "member limit has an unknown value");
  EXPECT_EQ(Parse(Edit("\"stderr\":", "\"stderx\":")), "missing member stderr");
  EXPECT_EQ(Parse(Edit("\"runnerMessage\":\"note\"", "\"runnerMessage\":[\"note\"]")),
            "member runnerMessage is not a string");
  EXPECT_EQ(Parse(Edit("\"runnerMessage\":\"note\"", "\"runnerMessage\":[[[[\"note\"]]]]")),
            "report JSON is nested too deep");
  EXPECT_EQ(Parse(Edit("\"runnerMessage\":\"note\"", "\"runnerMessage\":\"\xFF\"")),
            "report is not valid JSON");
  EXPECT_EQ(Parse(Edit("\"runnerMessage\":\"note\"", "\"runnerMessage\":\"note\",\"new\":5")),
            "ok");
}

TEST(ReportTest, DeepNestingIsRejectedCheaply) {
  const std::string json = std::string(1 << 20, '[') + std::string(1 << 20, ']');
  EXPECT_EQ(Parse(std::string(kReportHeader) + std::to_string(json.size()) + "\n" + json + "\n" +
                  std::string(kReportTrailer)),
            "report JSON is nested too deep");
}

TEST(ReportTest, JudgeCasesRoundTrip) {
  Report r;
  r.exit_code = 0;
  r.wall_millis = 30;
  CaseReport ok;
  ok.name = "small";
  ok.exit_code = 0;
  ok.stdout_text = "3\n";
  ok.stdout_bytes = 2;
  ok.wall_millis = 12;
  CaseReport slow;
  slow.name = "big";
  slow.signal = 9;
  slow.limit = Limit::kTime;
  slow.stderr_text = "partial \xFF";  // repaired on the way out
  r.tests = {ok, slow};
  std::string error;
  std::optional<Report> back = ParseReport(FormatReport(r), &error);
  ASSERT_TRUE(back.has_value()) << error;
  ASSERT_EQ(back->tests.size(), 2u);
  EXPECT_EQ(back->tests[0], ok);
  EXPECT_EQ(back->tests[1].limit, Limit::kTime);
  EXPECT_EQ(back->tests[1].stderr_text, "partial \xEF\xBF\xBD");
  // A plain run's report has no tests member at all.
  EXPECT_EQ(FormatReport(Report{}).find("\"tests\""), std::string::npos);
}

TEST(ReportTest, MalformedCasesAreRefusedWithTheirIndex) {
  Report r;
  CaseReport c;
  c.name = "a";
  r.tests = {c};
  const std::string good = FormatReport(r);
  auto edit = [&](const std::string& from, const std::string& to) {
    std::string body = good.substr(good.find('\n') + 1);
    body = body.substr(0, body.rfind('\n', body.size() - 2));
    const size_t at = body.find(from, body.find("\"tests\""));
    body.replace(at, from.size(), to);
    return std::string(kReportHeader) + std::to_string(body.size()) + "\n" + body + "\n" +
           std::string(kReportTrailer);
  };
  std::string error;
  EXPECT_FALSE(ParseReport(edit("\"limit\":\"\"", "\"limit\":\"x\""), &error));
  EXPECT_EQ(error, "tests[0]: member limit has an unknown value");
  EXPECT_FALSE(ParseReport(edit("\"name\":\"a\",", ""), &error));
  EXPECT_EQ(error, "tests[0]: missing member name");
}

TEST(ReportTest, JudgeFramesAreBoundedByTheirCases) {
  EXPECT_EQ(MaxJudgeFrameBytes(0, 100, 100), MaxFrameBytes(0));
  EXPECT_GT(MaxJudgeFrameBytes(256, 32768, 256), 256u * (32768 + 256));
}

}  // namespace
}  // namespace coderun::api
