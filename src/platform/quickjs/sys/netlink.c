#include "flatnet_sys.h"

/*
 * linkInfo(name) -> [ifindex, flags, mac, [[family, address, prefixlen], ...]] | null (absent) | errno
 * Asked of the kernel over netlink from this thread's namespace, so unlike
 * sysfs (which shows the namespace it was mounted in) it is right wherever
 * the plugin runs, and it needs no process. One link is asked for by index
 * (RTM_GETLINK) and only its addresses are dumped (RTM_GETADDR, filtered by
 * the kernel where it can): getifaddrs(3) dumps every link of the namespace,
 * 0.6 ms on a node with 50 pods, twice per ADD.
 */

/* A reply that does not come within this is an error, not a plugin hung on a wedged kernel. */
#define NL_TIMEOUT_S 5

/*
 * Sends one request and hands each reply message to `each` until the dump
 * ends; 0 or an errno: ETIMEDOUT when the kernel does not answer in time,
 * EMSGSIZE when a reply did not fit the buffer (MSG_TRUNC: never parsed cut).
 */
static int nl_ask(int fd, void *req, size_t len, int (*each)(struct nlmsghdr *, void *), void *arg)
{
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    if (sendto(fd, req, len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0)
        return errno;
    int dump = (((struct nlmsghdr *)req)->nlmsg_flags & NLM_F_DUMP) != 0;
    uint32_t seq = ((struct nlmsghdr *)req)->nlmsg_seq;
    /* A dump comes in parts of at most a page or two (NLMSG_GOODSIZE): 32 KiB holds any of them. */
    static char buf[32768];
    for (;;) {
        ssize_t n = recv(fd, buf, sizeof buf, MSG_TRUNC);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? ETIMEDOUT : errno;
        }
        if ((size_t)n > sizeof buf)
            return EMSGSIZE;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_seq != seq)
                continue;
            if (h->nlmsg_type == NLMSG_DONE)
                return 0;
            if (h->nlmsg_type == NLMSG_ERROR) {
                if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct nlmsgerr)))
                    return EBADMSG;
                int e = -((struct nlmsgerr *)NLMSG_DATA(h))->error;
                if (e || !dump)
                    return e;
                continue;
            }
            int r = each(h, arg);
            if (r || !dump)
                return r;
        }
    }
}

#ifdef FLATNET_FAULTS
/* An attribute shorter than its type needs: what a malformed reply would hold. */
#define ATTR_LEN(rta) (fault("attrlen") ? 2 : RTA_PAYLOAD(rta))
#else
#define ATTR_LEN(rta) RTA_PAYLOAD(rta)
#endif

/* What netlink said of the link and its addresses, in C: JS values are made once it is all in. */
struct addr_info {
    int family, prefixlen;
    char text[INET6_ADDRSTRLEN];
};

struct link_reply {
    int found, ifindex;
    unsigned flags;
    char mac[3 * 32];
    struct addr_info *addrs;
    size_t n, cap;
};

static int on_link(struct nlmsghdr *h, void *arg)
{
    struct link_reply *lr = arg;
    if (h->nlmsg_type != RTM_NEWLINK)
        return 0;
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg)))
        return EBADMSG;
    struct ifinfomsg *ifi = NLMSG_DATA(h);
    int len = IFLA_PAYLOAD(h);
    for (struct rtattr *rta = IFLA_RTA(ifi); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
        if (rta->rta_type != IFLA_ADDRESS)
            continue;
        const unsigned char *b = RTA_DATA(rta);
        size_t off = 0, n = RTA_PAYLOAD(rta);
        for (size_t i = 0; i < n && i < 32; i++)
            off += snprintf(lr->mac + off, sizeof(lr->mac) - off, i ? ":%02x" : "%02x", b[i]);
    }
    lr->found = 1;
    lr->ifindex = ifi->ifi_index;
    lr->flags = ifi->ifi_flags;
    return 0;
}

static int on_addr(struct nlmsghdr *h, void *arg)
{
    struct link_reply *lr = arg;
    if (h->nlmsg_type != RTM_NEWADDR)
        return 0;
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifaddrmsg)))
        return EBADMSG;
    struct ifaddrmsg *ifa = NLMSG_DATA(h);
    /* Kernels before 4.20 ignore the filter and send every link's: skip those. */
    if ((int)ifa->ifa_index != lr->ifindex || (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6))
        return 0;
    size_t want = ifa->ifa_family == AF_INET ? 4 : 16;
    const void *local = NULL, *address = NULL;
    int len = IFA_PAYLOAD(h);
    for (struct rtattr *rta = IFA_RTA(ifa); RTA_OK(rta, len); rta = RTA_NEXT(rta, len)) {
        if (rta->rta_type != IFA_LOCAL && rta->rta_type != IFA_ADDRESS)
            continue;
        /* inet_ntop reads 4 or 16 bytes: a shorter attribute is a malformed reply, not an address. */
        if (ATTR_LEN(rta) < want)
            return EBADMSG;
        if (rta->rta_type == IFA_LOCAL)
            local = RTA_DATA(rta);
        else
            address = RTA_DATA(rta);
    }
    /* As getifaddrs: the local address (IFA_ADDRESS is the peer's on point-to-point links). */
    const void *a = local ? local : address;
    if (!a)
        return 0;
    if (lr->n == lr->cap) {
        size_t cap = lr->cap ? lr->cap * 2 : 8;
        struct addr_info *p = realloc(lr->addrs, cap * sizeof *p);
        if (!p)
            return ENOMEM;
        lr->addrs = p;
        lr->cap = cap;
    }
    struct addr_info *one = &lr->addrs[lr->n];
    if (!inet_ntop(ifa->ifa_family, a, one->text, sizeof one->text))
        return errno;
    one->family = ifa->ifa_family == AF_INET ? 4 : 6;
    one->prefixlen = ifa->ifa_prefixlen;
    lr->n++;
    return 0;
}

static int sysfs_assign_type(const char *name, const struct link_reply *lr);

/* The JS value of a complete reply, or JS_EXCEPTION (every part checked, nothing half-made returned). */
static JSValue link_value(JSContext *ctx, const struct link_reply *lr, int assign_type)
{
    JSValue addrs = JS_NewArray(ctx);
    for (size_t i = 0; i < lr->n && !JS_IsException(addrs); i++) {
        const struct addr_info *a = &lr->addrs[i];
        JSValue one = tuple(ctx, 3, (JSValue[]){JS_NewInt32(ctx, a->family), JS_NewString(ctx, a->text), JS_NewInt32(ctx, a->prefixlen)});
        if (put(ctx, addrs, (uint32_t)i, one) < 0) {
            JS_FreeValue(ctx, addrs);
            addrs = JS_EXCEPTION;
        }
    }
    return tuple(ctx, 5, (JSValue[]){JS_NewInt32(ctx, lr->ifindex), JS_NewUint32(ctx, lr->flags), JS_NewString(ctx, lr->mac), addrs, JS_NewInt32(ctx, assign_type)});
}

JSValue js_link_info(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    const char *name;
    int r = c_string(ctx, argv[0], &name);
    if (r)
        return FAIL(ctx, r);
    int ifindex = (int)if_nametoindex(name);
    if (!ifindex) {
        int err = errno;
        JS_FreeCString(ctx, name);
        return err == ENODEV || err == ENXIO ? JS_NULL : JS_NewInt32(ctx, err);
    }
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) {
        int err = errno;
        JS_FreeCString(ctx, name);
        return JS_NewInt32(ctx, err);
    }
    int one = 1;
    setsockopt(fd, SOL_NETLINK, NETLINK_GET_STRICT_CHK, &one, sizeof one); /* absent before 4.20: then filtered here */
    struct timeval tv = {.tv_sec = NL_TIMEOUT_S};
    int err = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0 ? errno : 0;
    struct {
        struct nlmsghdr nh;
        struct ifinfomsg ifi;
    } lreq = { .nh = { .nlmsg_len = sizeof lreq, .nlmsg_type = RTM_GETLINK, .nlmsg_flags = NLM_F_REQUEST, .nlmsg_seq = 1 }, .ifi = { .ifi_family = AF_UNSPEC, .ifi_index = ifindex } };
    struct link_reply lr = { .ifindex = ifindex };
    if (!err)
        err = nl_ask(fd, &lreq, sizeof lreq, on_link, &lr);
    if (!err && lr.found) {
        struct {
            struct nlmsghdr nh;
            struct ifaddrmsg ifa;
        } areq = { .nh = { .nlmsg_len = sizeof areq, .nlmsg_type = RTM_GETADDR, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 2 }, .ifa = { .ifa_family = AF_UNSPEC, .ifa_index = (unsigned)ifindex } };
        err = nl_ask(fd, &areq, sizeof areq, on_addr, &lr);
    }
    close(fd);
    JSValue ret;
    if (err || !lr.found)
        /* Gone between the index and the question: absent, as before it. */
        ret = err == ENODEV || (!err && !lr.found) ? JS_NULL : JS_NewInt32(ctx, err);
    else
        ret = link_value(ctx, &lr, sysfs_assign_type(name, &lr));
    free(lr.addrs);
    JS_FreeCString(ctx, name);
    return ret;
}

/* A small sysfs attribute of a link, trailing newline cut; -1 when unreadable. */
static int sysfs_attr(const char *name, const char *attr, char *out, size_t n)
{
    char path[96];
    if (snprintf(path, sizeof(path), "/sys/class/net/%s/%s", name, attr) >= (int)sizeof(path))
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t r = read(fd, out, n - 1);
    close(fd);
    if (r <= 0)
        return -1;
    out[r] = 0;
    if (out[r - 1] == '\n')
        out[r - 1] = 0;
    return 0;
}

/*
 * addr_assign_type of a link from sysfs (3: its MAC was set, so a bridge keeps
 * it as ports come and go), or -1. sysfs shows the namespace it was mounted
 * in, so it is believed only when its ifindex and MAC for this name are the
 * ones netlink just gave.
 */
static int sysfs_assign_type(const char *name, const struct link_reply *lr)
{
    char ifindex[32], mac[64], type[16];
    if (strchr(name, '/') || sysfs_attr(name, "ifindex", ifindex, sizeof(ifindex)) || sysfs_attr(name, "address", mac, sizeof(mac)) || sysfs_attr(name, "addr_assign_type", type, sizeof(type)))
        return -1;
    int same = atoi(ifindex) == lr->ifindex && strcmp(mac, lr->mac) == 0;
    return same ? atoi(type) : -1;
}


/* linkDriver(name) -> [driver, errno]: the kernel driver of a link ("bridge", "veth"), by ethtool. */
JSValue js_link_driver(JSContext *ctx, JSValueConst this_val, int argc, JSValueConst *argv)
{
    const char *name;
    int err = c_string(ctx, argv[0], &name);
    if (err)
        return err < 0 ? JS_EXCEPTION : pair(ctx, JS_NULL, err);
    size_t len = strlen(name);
    struct ethtool_drvinfo info = {.cmd = ETHTOOL_GDRVINFO};
    struct ifreq ifr = {0};
    if (len == 0 || len >= IFNAMSIZ) {
        err = EINVAL;
    } else {
        memcpy(ifr.ifr_name, name, len);
        ifr.ifr_data = (void *)&info;
        int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0 && (fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
            err = errno;
        else {
            if (ioctl(fd, SIOCETHTOOL, &ifr) < 0)
                err = errno;
            close(fd);
        }
    }
    JS_FreeCString(ctx, name);
    info.driver[sizeof(info.driver) - 1] = 0;
    return pair(ctx, err ? JS_NULL : JS_NewString(ctx, info.driver), err);
}
