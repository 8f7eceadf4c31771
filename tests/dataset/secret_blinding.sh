source "$(dirname "$0")/common.sh"
