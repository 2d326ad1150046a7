// One run: start the program, watch it, end it, account for it.
//
// The caller is the runner process itself (PID 1 of the container, or a child subreaper
// in tests). RunProgram must be called once, from a single-threaded process, after
// PrepareProcess().
#pragma once

#include <functional>

#include "runner/options.h"
#include "api/report.h"

namespace coderun::runner {

// Makes the runner fit to supervise: fds 0-2 open, not dumpable (the program, same UID,
// cannot ptrace it or open /proc/<runner>/fd/*), a child subreaper unless PID 1, SIGPIPE
// ignored, and SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT blocked for a signalfd. Returns
// the signalfd, or -1 with *error set.
int PrepareProcess(std::string* error);

// Judge mode: takes each case's result as soon as the case has ended and every process
// and file it left is gone (before the next case starts); returns false if it could not
// pass the result on, which ends the run there (no further case starts).
using CaseSink = std::function<bool(const api::CaseReport&)>;

// Runs the program described by `options` and returns the report. Ends the run when the
// program exits, the timer fires (limit "time"), or an accepted SIGTERM/SIGINT/SIGHUP
// arrives (limit "terminated"): accepted only when sent by kill() (si_code SI_USER) from
// outside the PID namespace (si_pid 0), or, when not PID 1, from the runner's parent. Before
// the program starts, the input is checked against options.input_digest and the Landlock
// ruleset (landlock.h) is built (with options.await_request, the ruleset first, then the
// request is read from fd 0, see input.h's ReadRequestBytes, a stop being accepted
// meanwhile, and fd 0 is left on /dev/null); report.input_digest names the input the report
// is about. After every process is gone, the termination log is truncated if the program
// wrote to it. CPU usage is the cgroup's (cgroup.h) minus the runner's own, or the wait
// status's where the cgroup cannot be read (runner_message says so). Every other process of
// the run is then killed and reaped, the pipes drained for at most options.drain_millis, and
// usage read. A setup failure yields a report with runner_error set.
//
// Judge mode (options.tests): runs the cases from options.first_case on, hands each to
// `on_case` (which must be callable then) and does not keep it: the returned report's tests
// is empty, its top level sums up the cases run.
api::Report RunProgram(const Options& options, int signal_fd, const CaseSink& on_case);

}  // namespace coderun::runner
