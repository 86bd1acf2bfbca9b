// no_io_uring EPERM|ENOSYS PROGRAM [ARGS...]: runs PROGRAM with io_uring_setup refused
// (tests/support/deny_io_uring.hh), as in a container whose seccomp profile blocks io_uring.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "tests/support/deny_io_uring.hh"

int main(int argc, char** argv) {
    if (argc < 3 || (std::strcmp(argv[1], "EPERM") != 0 && std::strcmp(argv[1], "ENOSYS") != 0)) {
        std::fprintf(stderr, "usage: no_io_uring EPERM|ENOSYS PROGRAM [ARGS...]\n");
        return 2;
    }
    if (!tandem::testing::deny_io_uring(std::strcmp(argv[1], "EPERM") == 0 ? EPERM : ENOSYS)) {
        std::fprintf(stderr, "no_io_uring: cannot install the seccomp filter: %s\n", std::strerror(errno));
        return 2;
    }
    execvp(argv[2], argv + 2);
    std::fprintf(stderr, "no_io_uring: cannot run %s: %s\n", argv[2], std::strerror(errno));
    return 2;
}
