#!/bin/sh
# imdsd package: after install and upgrade (deb: configure; rpm: $1 = 1 or 2).
set -e
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
  # An upgrade moves a running service onto the new binary.
  systemctl try-restart imdsd.service || true
fi
# The package cannot know whose ~/.aws to serve, so it enables nothing.
if [ ! -f /etc/systemd/system/imdsd.service.d/aws-user.conf ]; then
  echo "imdsd: to run the service, name the user whose ~/.aws it serves:"
  echo "  sudo imdsd service install --aws-user USER && sudo imdsd service start"
fi
exit 0
