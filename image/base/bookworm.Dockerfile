# Local stand-in for debian:bookworm, built by tests/cluster/images (no registry is
# reachable there). The context holds rootfs.tar: one `debootstrap --variant=minbase
# bookworm` tree, cached, with apt caches, /dev, /proc and /sys emptied.
FROM scratch
ADD rootfs.tar /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8
CMD ["bash"]
