/*
 * FastAGI load generator: plays Asterisk's side of AGI(agi://.../authorize,...) from
 * many connections at once, as bench/agi_load.py does, in a few percent of one core
 * (a Python client takes about as much CPU as the server it measures, and this
 * machine has two cores).
 *
 * Each slot: connect, send the recorded environment, answer every command line with
 * "200 result=1" (one at a time, as Asterisk does), and on the server's half-close
 * send "HANGUP" and close.  Slots run free (saturation) or paced so that together
 * they offer RATE calls per second.  Latency is connect to close.
 *
 * usage: agi_load PORT CONNECTIONS SECONDS RATE FIRST_CALL [ANSWER_VARIABLE [cycle]]
 *   RATE 0 = free running; ANSWER_VARIABLE (say BILLING_ANSWER): the third authorize
 *   argument of the shipped dialplan, which asks for the whole answer in that variable;
 *   "cycle": an ALLOWED call is followed at once by its settle session (59 s answered,
 *   within the benchmarks' 60 s limit, as a call the PBX cuts at its limit always is),
 *   as the hangup handler runs it, before the slot's next call
 * prints one JSON line: calls, not_allowed, per_s, p50_ms, p99_ms (of the authorize
 *   sessions), settles (cycle)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define T0 1795441378L
#define MAX_SLOTS 1024
#define MAX_SAMPLES 4000000

enum { IDLE, TALKING };

struct slot {
    int fd, state, allowed, settling;
    long n;               /* calls made by this slot */
    double started, next; /* this call's start; when the next may start (paced) */
    char buf[4096];
    size_t used;
};

static struct slot slots[MAX_SLOTS];
static double *samples;
static long count, not_allowed, settles;
static int cycle; /* each ALLOWED call is followed by its settle session */
static int port, connections, epfd;
static long first_call;
static double interval, stop_at;
static const char *answer_var; /* NULL: the answer comes as a variable each */
static char allowed_line[128];
static size_t allowed_len;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void send_all(int fd, const char *text, size_t len) {
    while (len) {
        ssize_t sent = send(fd, text, len, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR) continue;
            return; /* the read side sees the error */
        }
        text += sent;
        len -= (size_t)sent;
    }
}

static int settle_env(char *env, size_t size, int i) {
    struct slot *s = &slots[i];
    int ext = 1001 + i % 50;
    return snprintf(env, size,
        "agi_network: yes\nagi_network_script: settle\n"
        "agi_request: agi://127.0.0.1:4573/settle\n"
        "agi_channel: Local/91234567@from-internal-00000000;2\nagi_language: en\n"
        "agi_type: Local\nagi_uniqueid: %ld.%ld\nagi_version: 22.10.1\n"
        "agi_callerid: %d\nagi_calleridname: Ext %d\nagi_callingpres: 0\n"
        "agi_callingani2: 0\nagi_callington: 0\nagi_callingtns: 0\nagi_dnid: unknown\n"
        "agi_rdnis: unknown\nagi_context: billing-settle\nagi_extension: s\n"
        "agi_priority: 1\nagi_enhanced: 0.0\nagi_accountcode: %d\n"
        "agi_threadid: 140445748225728\nagi_arg_1: 59\nagi_arg_2: ANSWER\n"
        "agi_arg_3: %ld.%ld\nagi_arg_4: 59\nagi_arg_5: %d\nagi_arg_6: 91234567\n"
        "agi_arg_7: 58100\n\n",
        T0 + first_call + i, s->n, ext, ext, ext, T0 + first_call + i, s->n, ext);
}

static void start_call(int i) {
    struct slot *s = &slots[i];
    int ext = 1001 + i % 50;
    char env[2048];
    int len = s->settling ? settle_env(env, sizeof env, i) : snprintf(env, sizeof env,
        "agi_network: yes\nagi_network_script: authorize\n"
        "agi_request: agi://127.0.0.1:4573/authorize\n"
        "agi_channel: Local/91234567@from-internal-00000000;2\nagi_language: en\n"
        "agi_type: Local\nagi_uniqueid: %ld.%ld\nagi_version: 22.10.1\n"
        "agi_callerid: %d\nagi_calleridname: Ext %d\nagi_callingpres: 0\n"
        "agi_callingani2: 0\nagi_callington: 0\nagi_callingtns: 0\nagi_dnid: unknown\n"
        "agi_rdnis: unknown\nagi_context: from-internal\nagi_extension: 91234567\n"
        "agi_priority: 5\nagi_enhanced: 0.0\nagi_accountcode: %d\n"
        "agi_threadid: 140445748225728\nagi_arg_1: %d\nagi_arg_2: 91234567\n%s%s%s\n",
        T0 + first_call + i, s->n, ext, ext, ext, ext, answer_var ? "agi_arg_3: " : "",
        answer_var ? answer_var : "", answer_var ? "\n" : "");
    struct sockaddr_in addr = {0};
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->started = now();
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(s->fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        perror("connect");
        exit(2);
    }
    send_all(s->fd, env, (size_t)len);
    s->state = TALKING;
    if (!s->settling) s->allowed = 0;
    s->used = 0;
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (unsigned)i};
    epoll_ctl(epfd, EPOLL_CTL_ADD, s->fd, &ev);
}

static void end_call(int i) {
    struct slot *s = &slots[i];
    epoll_ctl(epfd, EPOLL_CTL_DEL, s->fd, NULL);
    close(s->fd);
    if (s->settling) { /* the call's settle session is over */
        s->settling = 0;
        settles++;
    } else {
        if (count < MAX_SAMPLES) samples[count] = now() - s->started;
        count++;
        not_allowed += !s->allowed;
        if (cycle && s->allowed) { /* the hangup handler's session, at once */
            s->settling = 1;
            start_call(i);
            return;
        }
    }
    s->n++;
    s->state = IDLE;
    if (interval > 0) s->next += interval;
}

static void on_readable(int i) {
    struct slot *s = &slots[i];
    ssize_t got = recv(s->fd, s->buf + s->used, sizeof s->buf - s->used - 1, 0);
    if (got <= 0) { /* the half-close (or an error): Asterisk says HANGUP and closes */
        send_all(s->fd, "HANGUP\n", 7);
        end_call(i);
        return;
    }
    s->used += (size_t)got;
    char *line = s->buf, *end;
    while ((end = memchr(line, '\n', s->used - (size_t)(line - s->buf))) != NULL) {
        *end = 0;
        if (strncmp(line, allowed_line, allowed_len) == 0 &&
            (answer_var || line[allowed_len] == 0)) s->allowed = 1;
        send_all(s->fd, "200 result=1\n", 13);
        line = end + 1;
    }
    s->used -= (size_t)(line - s->buf);
    memmove(s->buf, line, s->used);
}

int main(int argc, char **argv) {
    if (argc < 6 || argc > 8 || (argc == 8 && strcmp(argv[7], "cycle") != 0)) {
        fprintf(stderr, "usage: %s PORT CONNECTIONS SECONDS RATE FIRST_CALL "
                "[ANSWER_VARIABLE [cycle]]\n", argv[0]);
        return 2;
    }
    answer_var = argc >= 7 ? argv[6] : NULL;
    cycle = argc == 8;
    if (answer_var && strlen(answer_var) > 64) return 2;
    snprintf(allowed_line, sizeof allowed_line, "SET VARIABLE %s ALLOWED%s",
             answer_var ? answer_var : "BILLING_RESULT", answer_var ? "," : "");
    allowed_len = strlen(allowed_line);
    port = atoi(argv[1]);
    connections = atoi(argv[2]);
    double seconds = atof(argv[3]), rate = atof(argv[4]);
    first_call = atol(argv[5]);
    if (connections < 1 || connections > MAX_SLOTS) return 2;
    samples = malloc(sizeof(double) * MAX_SAMPLES);
    epfd = epoll_create1(0);
    interval = rate > 0 ? connections / rate : 0;
    double began = now();
    stop_at = began + seconds;
    for (int i = 0; i < connections; i++) {
        slots[i].next = began + interval * i / connections;
        slots[i].state = IDLE;
    }
    struct epoll_event events[MAX_SLOTS];
    for (;;) {
        double t = now(), wake = stop_at + 3600;
        int talking = 0;
        for (int i = 0; i < connections; i++) {
            struct slot *s = &slots[i];
            if (s->state == TALKING) {
                talking++;
                continue;
            }
            double due = interval > 0 ? s->next : t;
            if (due >= stop_at) continue;
            if (due <= t) {
                start_call(i);
                talking++;
            } else if (due < wake) {
                wake = due;
            }
        }
        if (!talking && (t >= stop_at || wake > stop_at)) break;
        /* round the wait up: a call may start up to 1 ms late, the CPU is not spun */
        double wait_ms = (wake - t) * 1000;
        int timeout = wait_ms > 1000 ? 1000 : wait_ms <= 0 ? 0 : (int)wait_ms + 1;
        int ready = epoll_wait(epfd, events, MAX_SLOTS, timeout);
        for (int k = 0; k < ready; k++) on_readable((int)events[k].data.u32);
    }
    double elapsed = now() - began;
    long kept = count < MAX_SAMPLES ? count : MAX_SAMPLES;
    qsort(samples, (size_t)kept, sizeof(double), cmp);
    printf("{\"calls\": %ld, \"not_allowed\": %ld, \"per_s\": %.0f, \"p50_ms\": %.2f, "
           "\"p99_ms\": %.2f, \"settles\": %ld}\n", count, not_allowed, count / elapsed,
           kept ? samples[kept / 2] * 1000 : 0.0, kept ? samples[(long)(kept * 0.99)] * 1000 : 0.0,
           settles);
    return 0;
}
