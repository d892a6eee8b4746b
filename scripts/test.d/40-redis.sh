# The real Redis for the JWT replay-store and replica tests: 127.0.0.1:6379. Started (and installed
# with apt-get when missing and running as root) if it does not answer; unreachable after that = fail.
set -euo pipefail
ping() {
  .venv/bin/python -c "import redis; redis.Redis(host='127.0.0.1', port=6379, socket_connect_timeout=2).ping()" 2>/dev/null
}
if ping; then
  echo "Redis reachable on 127.0.0.1:6379"
  exit 0
fi
if ! command -v redis-server >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "Redis is not running on 127.0.0.1:6379 and redis-server is missing: apt-get install -y redis-server (as root)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null
fi
redis-server --bind 127.0.0.1 --port 6379 --daemonize yes --save '' --appendonly no >/dev/null
for _ in $(seq 1 50); do
  if ping; then
    echo "Redis started on 127.0.0.1:6379"
    exit 0
  fi
  sleep 0.1
done
echo "Redis did not answer on 127.0.0.1:6379 after starting it" >&2
exit 1
