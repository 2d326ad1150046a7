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

TEST(ReportTest, InputDigestIsOptionalAndRoundTrips) {
  // Absent (no digest checked, or an older runner): "" and not written.
  const std::string plain = FormatReport(Sample());
  EXPECT_EQ(plain.find("inputDigest"), std::string::npos);
  Report with = Sample();
  with.input_digest = std::string(64, 'e');
  const std::string log = FormatReport(with);
  EXPECT_NE(log.find(R"("inputDigest":")" + with.input_digest + "\""), std::string::npos);
  std::string error;
  auto parsed = ParseReport(log, &error);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(parsed->input_digest, with.input_digest);
  EXPECT_EQ(*parsed, with);
  // Of the wrong type: refused (a frame rebuilt around the changed document).
  const size_t body_start = log.find('\n') + 1;
  std::string body = log.substr(body_start, log.size() - body_start - 1 - kReportTrailer.size());
  const std::string member = R"("inputDigest":")" + with.input_digest + "\"";
  body.replace(body.find(member), member.size(), R"("inputDigest":1)");
  EXPECT_EQ(Parse(std::string(kReportHeader) + std::to_string(body.size()) + "\n" + body + "\n" +
                  std::string(kReportTrailer)),
            "member inputDigest is not a string");
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
  r.landlock_abi = 1000;
  r.input_digest = std::string(64, 'f');
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

// The JSON of a single frame (case or report).
std::string Body(const std::string& frame) {
  const size_t begin = frame.find('\n') + 1;
  return frame.substr(begin, frame.rfind('\n', frame.size() - 2) - begin);
}

std::string Framed(std::string_view header, const std::string& body, std::string_view trailer) {
  return std::string(header) + std::to_string(body.size()) + "\n" + body + "\n" +
         std::string(trailer);
}

// The log an older runner wrote: one report frame whose tests member holds the cases.
std::string SingleFrame(const Report& r) {
  Report top = r;
  top.tests.clear();
  std::string body = Body(FormatReport(top));
  std::string tests = ",\"tests\":[";
  for (size_t i = 0; i < r.tests.size(); ++i) {
    tests += (i > 0 ? "," : "") + Body(FormatCase(r.tests[i]));
  }
  body.insert(body.size() - 1, tests + "]");
  return Framed(kReportHeader, body, kReportTrailer);
}

Report JudgeSample() {
  Report r;
  r.exit_code = 0;
  r.wall_millis = 30;
  r.runner_message = "note";
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
  slow.stderr_text = "partial";
  CaseReport oom;
  oom.name = "huge";
  oom.signal = 9;
  oom.limit = Limit::kMemory;
  oom.max_rss_bytes = 1 << 30;
  r.tests = {ok, slow, oom};
  return r;
}

TEST(ReportTest, JudgeCasesRoundTrip) {
  Report r = JudgeSample();
  r.tests[1].stderr_text = "partial \xFF";  // repaired on the way out
  std::string error;
  std::optional<Report> back = ParseReport(FormatReport(r), &error);
  ASSERT_TRUE(back.has_value()) << error;
  ASSERT_EQ(back->tests.size(), 3u);
  EXPECT_EQ(back->tests[0], r.tests[0]);
  EXPECT_EQ(back->tests[1].limit, Limit::kTime);
  EXPECT_EQ(back->tests[1].stderr_text, "partial \xEF\xBF\xBD");
  EXPECT_EQ(back->tests[2], r.tests[2]);
  EXPECT_EQ(back->runner_message, "note");
  // A plain run's report has no tests member at all.
  EXPECT_EQ(FormatReport(Report{}).find("\"tests\""), std::string::npos);
}

TEST(ReportTest, AJudgeLogIsACaseFramePerCaseThenTheReportWithoutTests) {
  const Report r = JudgeSample();
  const std::string log = FormatReport(r);
  std::string expected;
  for (const CaseReport& c : r.tests) expected += FormatCase(c);
  ASSERT_TRUE(log.starts_with(expected));
  const std::string report_frame = log.substr(expected.size());
  EXPECT_TRUE(report_frame.starts_with(kReportHeader));
  EXPECT_EQ(report_frame.find("\"tests\""), std::string::npos);
  EXPECT_TRUE(FormatCase(r.tests[0]).starts_with("coderun-case/v1 "));
  EXPECT_TRUE(FormatCase(r.tests[0]).ends_with("}\ncoderun-case-end\n"));
  EXPECT_TRUE(Body(FormatCase(r.tests[0])).starts_with(R"({"name":"small","exitCode":0,)"));
  // The report frame alone is the report of the run without its cases.
  Report top = r;
  top.tests.clear();
  EXPECT_EQ(report_frame, FormatReport(top));
  EXPECT_EQ(ParseCases(log), r.tests);
}

TEST(ReportTest, AnOlderRunnersSingleFrameWithTestsStillParses) {
  const Report r = JudgeSample();
  std::string error;
  std::optional<Report> back = ParseReport(SingleFrame(r), &error);
  ASSERT_TRUE(back.has_value()) << error;
  EXPECT_EQ(*back, r);
  EXPECT_TRUE(ParseCases(SingleFrame(r)).empty());
}

TEST(ReportTest, ATornLastCaseFrameFailsTheReportButKeepsTheCompleteCases) {
  const Report r = JudgeSample();
  const std::string two = FormatCase(r.tests[0]) + FormatCase(r.tests[1]);
  const std::string third = FormatCase(r.tests[2]);
  const std::vector<CaseReport> first_two = {r.tests[0], r.tests[1]};
  for (size_t n = 0; n < third.size(); ++n) {
    const std::string log = two + third.substr(0, n);
    EXPECT_NE(Parse(log), "ok") << n;
    EXPECT_EQ(ParseCases(log), first_two) << n;
  }
  EXPECT_EQ(Parse(two), "log ends after 2 case frames, without a report");
  EXPECT_EQ(Parse(two + third.substr(0, third.size() - 1)),
            "case frame 2 cut short: log has " +
                std::to_string(third.size() - third.find('\n') - 2) +
                " bytes after the header, the frame needs " +
                std::to_string(third.size() - third.find('\n') - 1));
  // Every complete case is kept, also when the report frame is what is torn, or garbage
  // follows.
  const std::string all = FormatReport(r);
  const std::string cases = two + third;
  for (size_t n = cases.size(); n < all.size(); ++n) {
    EXPECT_NE(Parse(all.substr(0, n)), "ok") << n;
    EXPECT_EQ(ParseCases(all.substr(0, n)), r.tests) << n;
  }
  EXPECT_EQ(Parse(cases + "Killed\n"), "neither a case frame nor the report after 3 case frames");
  EXPECT_EQ(ParseCases(cases + "Killed\n"), r.tests);
}

TEST(ReportTest, ACaseFrameAfterTheReportIsRefused) {
  const Report r = JudgeSample();
  const std::string log = FormatReport(r);
  EXPECT_EQ(Parse(log + FormatCase(r.tests[0])), "a case frame after the report");
  Report top = r;
  top.tests.clear();
  EXPECT_EQ(Parse(FormatReport(top) + FormatCase(r.tests[0])), "a case frame after the report");
  EXPECT_EQ(Parse(FormatReport(top) + FormatReport(top)), "extra data after the report");
}

TEST(ReportTest, CaseFramesAndATestsMemberTogetherAreRefused) {
  const Report r = JudgeSample();
  EXPECT_EQ(Parse(FormatCase(r.tests[0]) + SingleFrame(r)),
            "report has a tests member after case frames");
  // Even an empty one.
  Report top = r;
  top.tests.clear();
  std::string body = Body(FormatReport(top));
  body.insert(body.size() - 1, ",\"tests\":[]");
  EXPECT_EQ(Parse(FormatCase(r.tests[0]) + Framed(kReportHeader, body, kReportTrailer)),
            "report has a tests member after case frames");
}

TEST(ReportTest, CaseFramesWithABadLengthAreRefused) {
  const Report r = JudgeSample();
  Report top = r;
  top.tests.clear();
  const std::string report = FormatReport(top);
  const std::string body = Body(FormatCase(r.tests[0]));
  const std::string size = std::to_string(body.size());
  const auto with_length = [&](const std::string& length) {
    return std::string(kCaseHeader) + length + "\n" + body + "\n" + std::string(kCaseTrailer);
  };
  ASSERT_EQ(Parse(with_length(size) + report), "ok");
  EXPECT_EQ(Parse(with_length("0" + size) + report), "case frame 0 header has a malformed length");
  EXPECT_EQ(Parse(with_length("+" + size) + report), "case frame 0 header has a malformed length");
  EXPECT_EQ(Parse(with_length("") + report), "case frame 0 header has a malformed length");
  EXPECT_EQ(Parse(with_length("99999999999") + report),
            "case frame 0 header has a malformed length");
  EXPECT_EQ(Parse(with_length("4294967295") + report), "case frame 0 too large");
  EXPECT_EQ(Parse(with_length(std::to_string(body.size() - 1)) + report),
            "case frame 0 length does not match its end marker");
  EXPECT_EQ(Parse(with_length(std::to_string(body.size() + 1)) + report),
            "case frame 0 length does not match its end marker");
  for (const std::string& bad : {"0" + size, std::to_string(body.size() + 1), std::string("x")}) {
    EXPECT_TRUE(ParseCases(with_length(bad) + report).empty()) << bad;
    EXPECT_EQ(ParseCases(FormatCase(r.tests[1]) + with_length(bad) + report).size(), 1u) << bad;
  }
  // The length counts the body exactly: a frame with one more byte of JSON is refused.
  EXPECT_NE(Parse(std::string(kCaseHeader) + size + "\n" + body + " \n" +
                  std::string(kCaseTrailer) + report),
            "ok");
}

TEST(ReportTest, MalformedCasesAreRefusedWithTheirIndex) {
  Report r;
  CaseReport c;
  c.name = "a";
  r.tests = {c, c};
  r.tests[1].name = "b";
  const std::string body = Body(FormatCase(r.tests[1]));
  auto edit = [&](const std::string& from, const std::string& to) {
    std::string edited = body;
    edited.replace(edited.find(from), from.size(), to);
    return FormatCase(r.tests[0]) + Framed(kCaseHeader, edited, kCaseTrailer) +
           FormatReport(Report{});
  };
  EXPECT_EQ(Parse(edit("\"limit\":\"\"", "\"limit\":\"x\"")),
            "case frame 1: member limit has an unknown value");
  EXPECT_EQ(Parse(edit("\"name\":\"b\",", "")), "case frame 1: missing member name");
  EXPECT_EQ(Parse(edit("\"exitCode\":-1", "\"exitCode\":\"-1\"")),
            "case frame 1: member exitCode is not an integer");
  EXPECT_EQ(Parse(edit("\"limit\":\"\"", "\"limit\":\"\",\"new\":[1]")), "ok");
  EXPECT_EQ(Parse(edit("\"limit\":\"\"", "\"limit\":\"\",\"new\":[[1]]")),
            "case frame 1 JSON is nested too deep");
  EXPECT_EQ(Parse(FormatCase(c) + Framed(kCaseHeader, "[]", kCaseTrailer) +
                  FormatReport(Report{})),
            "case frame 1: case is not a JSON object");
  EXPECT_EQ(ParseCases(edit("\"name\":\"b\",", "")), std::vector<CaseReport>{r.tests[0]});

  // An older runner's tests member, checked the same way.
  std::string old = SingleFrame(r);
  std::string error;
  std::string old_body = Body(old);
  old_body.replace(old_body.rfind("\"limit\":\"\""), 10, "\"limit\":\"x\"");
  EXPECT_FALSE(ParseReport(Framed(kReportHeader, old_body, kReportTrailer), &error));
  EXPECT_EQ(error, "tests[1]: member limit has an unknown value");
}

TEST(ReportTest, NoMoreCaseFramesThanTheCasesOfARun) {
  CaseReport c;
  c.name = "a";
  std::string frames;
  for (size_t i = 0; i < kMaxTestCases; ++i) frames += FormatCase(c);
  EXPECT_EQ(Parse(frames + FormatReport(Report{})), "ok");
  EXPECT_EQ(ParseCases(frames + FormatCase(c)).size(), kMaxTestCases);
  EXPECT_EQ(Parse(frames + FormatCase(c) + FormatReport(Report{})), "more than 256 case frames");
}

TEST(ReportTest, ParseCasesOfNothingOrGarbageIsEmpty) {
  EXPECT_TRUE(ParseCases("").empty());
  EXPECT_TRUE(ParseCases("Hello World\n").empty());
  EXPECT_TRUE(ParseCases(std::string(kCaseHeader)).empty());
  EXPECT_TRUE(ParseCases(FormatReport(Sample())).empty());
  EXPECT_TRUE(ParseCases(" " + FormatCase(CaseReport{})).empty());
  EXPECT_EQ(Parse(std::string(kCaseHeader)), "case frame 0 header cut short");
}

TEST(ReportTest, JudgeFramesAreBoundedByTheirCases) {
  EXPECT_EQ(MaxJudgeFrameBytes(0, 100, 100), MaxFrameBytes(0));
  EXPECT_GT(MaxJudgeFrameBytes(256, 32768, 256), 256u * (32768 + 256));
}

TEST(ReportTest, AJudgeLogAtTheMaximumSizesStaysWithinMaxJudgeFrameBytes) {
  // The controller's caps at 256 cases: stdout 8 MiB / 256, stderr the status share.
  constexpr size_t kStdout = (8 << 20) / kMaxTestCases, kStderr = 256;
  Report r;
  r.exit_code = -1;
  r.signal = 128;
  r.wall_millis = r.cpu_millis = r.max_rss_bytes = UINT64_MAX;
  r.stdout_bytes = r.stderr_bytes = UINT64_MAX;
  r.runner_message = r.runner_error = std::string(100000, '\x01');
  r.limit = Limit::kTerminated;
  r.landlock_abi = 1000;
  CaseReport c;
  c.name = std::string(63, 'n');  // a DNS label at its longest
  c.exit_code = -1;
  c.signal = 128;
  c.wall_millis = c.cpu_millis = c.max_rss_bytes = UINT64_MAX;
  c.stdout_bytes = c.stderr_bytes = UINT64_MAX;
  c.stdout_text = std::string(kStdout / 6, '\x01');  // JSON-encoded: 6 bytes each
  c.stdout_text += std::string(kStdout % 6, 'x');
  c.stderr_text = std::string(kStderr / 2, '"');
  c.limit = Limit::kTerminated;
  const size_t case_frame = FormatCase(c).size();
  EXPECT_LE(case_frame, kStdout + kStderr + 512);
  EXPECT_GE(case_frame, kStdout + kStderr);  // the streams are at their caps
  r.tests.assign(kMaxTestCases, c);
  const std::string log = FormatReport(r);
  EXPECT_LE(log.size(), MaxJudgeFrameBytes(kMaxTestCases, kStdout, kStderr));
  // Without streams, the frame alone fits a case's allowance.
  c.stdout_text = c.stderr_text = "";
  EXPECT_LE(FormatCase(c).size(), 512u);
  std::string error;
  auto back = ParseReport(log, &error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(back->tests.size(), kMaxTestCases);
}

}  // namespace
}  // namespace coderun::api
