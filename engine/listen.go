package engine

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"
)

// listen opens one configured address. A unix socket file left behind by a
// dead process is removed first; one that still answers is a live daemon
// and an error.
func listen(addr string, mode uint32) (net.Listener, error) {
	network, address, err := parseListen(addr)
	if err != nil {
		return nil, err
	}
	if network == "tcp" {
		return net.Listen("tcp", address)
	}
	if err := removeStaleSocket(address); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(address), 0o755); err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", address)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(address, fs.FileMode(mode)); err != nil {
		ln.Close()
		return nil, err
	}
	return ln, nil
}

func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("%s: another process is serving on it", path)
	}
	return os.Remove(path)
}

// acceptBackoff is how long to wait after a failed Accept (EMFILE and the
// like): 5ms doubling to 1s, so a starved process never spins.
type acceptBackoff struct{ d time.Duration }

func (b *acceptBackoff) next() time.Duration {
	b.d = min(max(2*b.d, 5*time.Millisecond), time.Second)
	return b.d
}

func (b *acceptBackoff) reset() { b.d = 0 }
