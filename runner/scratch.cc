#include "runner/scratch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <vector>

#include "runner/sys_error.h"

namespace coderun::runner {
namespace {

constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

bool IsDotOrDotDot(const char* name) {
  return name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0'));
}

// One pass over the directory open at `fd`: unlinks every non-directory (skipping `keep`
// at the top), and returns the name of one subdirectory to descend into ("" when none is
// left). *error gets the first failure.
std::string UnlinkFilesFindDir(int fd, const std::set<std::string>* keep, std::string* error) {
  const int scan_fd = dup(fd);
  if (scan_fd < 0) {
    *error = Errno("dup");
    return "";
  }
  DIR* dir = fdopendir(scan_fd);
  if (dir == nullptr) {
    *error = Errno("fdopendir");
    close(scan_fd);
    return "";
  }
  rewinddir(dir);
  std::string subdir;
  while (const dirent* entry = readdir(dir)) {
    if (IsDotOrDotDot(entry->d_name)) continue;
    if (keep != nullptr && keep->count(entry->d_name) > 0) continue;
    struct stat st;
    if (fstatat(fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone
    if (S_ISDIR(st.st_mode)) {
      if (subdir.empty()) subdir = entry->d_name;
      continue;
    }
    if (unlinkat(fd, entry->d_name, 0) != 0 && errno != ENOENT && error->empty()) {
      *error = Errno(std::string("removing ") + entry->d_name);
    }
  }
  closedir(dir);
  return subdir;
}

}  // namespace

DirSnapshot SnapshotDir(const std::string& path) {
  DirSnapshot snapshot{path, false, {}};
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) return snapshot;
  snapshot.exists = true;
  while (const dirent* entry = readdir(dir)) {
    if (!IsDotOrDotDot(entry->d_name)) snapshot.names.insert(entry->d_name);
  }
  closedir(dir);
  return snapshot;
}

std::string RemoveAddedEntries(const DirSnapshot& snapshot) {
  if (!snapshot.exists) return "";
  int fd = open(snapshot.dir.c_str(), kDirFlags);
  if (fd < 0) return Errno("opening " + snapshot.dir);
  // Depth-first without recursion: `path` holds the names from the top to `fd`; a
  // directory is entered, emptied of files, then of directories, then removed from its
  // parent (reached through ".."; nothing else runs that could move it meanwhile).
  std::vector<std::string> path;
  std::string error;
  for (;;) {
    const std::string subdir =
        UnlinkFilesFindDir(fd, path.empty() ? &snapshot.names : nullptr, &error);
    if (!error.empty()) break;
    if (!subdir.empty()) {
      fchmodat(fd, subdir.c_str(), 0700, 0);  // enter even what was made unreadable
      const int child = openat(fd, subdir.c_str(), kDirFlags);
      if (child < 0) {
        error = Errno("entering " + subdir);
        break;
      }
      close(fd);
      fd = child;
      path.push_back(subdir);
      continue;
    }
    if (path.empty()) break;  // the top is done
    const int parent = openat(fd, "..", kDirFlags);
    if (parent < 0) {
      error = Errno("leaving " + path.back());
      break;
    }
    close(fd);
    fd = parent;
    if (unlinkat(fd, path.back().c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
      error = Errno("removing " + path.back());
      break;
    }
    path.pop_back();
  }
  close(fd);
  return error.empty() ? "" : "cleaning " + snapshot.dir + " between cases: " + error;
}

int SealedMemoryFile(std::string_view data, const char* name) {
  const int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return -1;
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int saved = errno;
      close(fd);
      errno = saved;
      return -1;
    }
    done += static_cast<size_t>(n);
  }
  if (lseek(fd, 0, SEEK_SET) != 0 ||
      fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
    const int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

}  // namespace coderun::runner
