// Between two cases of a judge run: what the program may have left in the writable
// directories goes, and each case's stdin is a sealed in-memory file (as are a request's
// code and stdin, input.h).
#pragma once

#include <set>
#include <string>
#include <string_view>

namespace coderun::runner {

// The names directly under a directory at some moment (empty and !exists when it cannot
// be read).
struct DirSnapshot {
  std::string dir;
  bool exists = false;
  std::set<std::string> names;
};

DirSnapshot SnapshotDir(const std::string& dir);

// Removes every entry of snapshot.dir whose name is not in snapshot.names, whole trees
// included: never following a symbolic link, making each directory searchable and
// writable before entering it (the program may have chmod 000'd it), holding one open
// directory at a time (any depth). Call only when no process of the run is left. Returns
// "" or one line naming the first entry that could not be removed.
std::string RemoveAddedEntries(const DirSnapshot& snapshot);

// A memfd named `name` holding `data`, at offset 0, sealed against any change,
// close-on-exec; -1 with errno set on failure.
int SealedMemoryFile(std::string_view data, const char* name = "coderun-stdin");

}  // namespace coderun::runner
