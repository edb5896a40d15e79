#!/bin/sh
# imdsd package: after removal (deb: remove or purge; rpm: $1 = 0).
set -e
case "$1" in
  remove|purge|0)
    if [ -d /run/systemd/system ]; then
      systemctl daemon-reload || true
    fi
    ;;
esac
if [ "$1" = purge ]; then
  rmdir /etc/imdsd 2>/dev/null || true
fi
exit 0
