#pragma once
// Helpers shared by the end-to-end benchmarks: pinning a thread to a CPU, and a blocking TCP
// connection to a loopback port.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>

namespace tandem::bench {

// Pins the calling thread to `cpu` (modulo the CPU count); does nothing on one CPU.
inline void pin(int cpu) {
    unsigned n = std::thread::hardware_concurrency();
    if (n < 2) return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(static_cast<unsigned>(cpu) % n, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

// Connects to 127.0.0.1:port with TCP_NODELAY; exits with a message when it cannot.
inline int dial(uint16_t port, bool nonblocking = false) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
        std::perror("connect");
        std::exit(1);
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (nonblocking) fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

}  // namespace tandem::bench
