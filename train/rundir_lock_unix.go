//go:build unix

package train

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// folderLock is an exclusive flock(2) on a run folder's LockFile.
type folderLock struct{ f *os.File }

// lockFolder takes the lock of dir without waiting. A lock held by a live
// process is a RunFolderError naming its pid; the file of a dead holder is
// taken over (the kernel released its lock).
func lockFolder(dir string) (*folderLock, error) {
	path := filepath.Join(dir, LockFile)
	for range 10 {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, &RunFolderError{Dir: dir, Problem: Unwritable, Err: err}
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			b, _ := os.ReadFile(path)
			f.Close()
			if errors.Is(err, unix.EWOULDBLOCK) {
				pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
				return nil, &RunFolderError{Dir: dir, Problem: InUse, PID: pid}
			}
			return nil, &RunFolderError{Dir: dir, Problem: Unwritable, Err: fmt.Errorf("lock %s: %w", path, err)}
		}
		// The holder that released the lock may have removed the file in
		// between: then this lock is on a file no one else will open.
		held, err1 := f.Stat()
		now, err2 := os.Stat(path)
		if err1 != nil || err2 != nil || !os.SameFile(held, now) {
			f.Close()
			continue
		}
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, &RunFolderError{Dir: dir, Problem: Unwritable, Err: err}
		}
		if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
			f.Close()
			return nil, &RunFolderError{Dir: dir, Problem: Unwritable, Err: err}
		}
		return &folderLock{f}, nil
	}
	return nil, &RunFolderError{Dir: dir, Problem: InUse}
}

// release removes the lock file and releases the lock (in that order, so
// that a process waiting on the old file sees it was removed).
func (l *folderLock) release() error {
	err := os.Remove(l.f.Name())
	return errors.Join(err, l.f.Close())
}

// checkWritable reports a run folder that cannot be written: dir, or the
// nearest folder above it that exists, refuses writing (permissions, a
// read-only file system), or a file stands where a folder is needed.
func checkWritable(dir string) error {
	for p := filepath.Clean(dir); ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		switch {
		case err == nil && !st.IsDir():
			return &RunFolderError{Dir: dir, Problem: Unwritable, Err: fmt.Errorf("%s is not a folder", p)}
		case err == nil:
			if err := unix.Access(p, unix.W_OK|unix.X_OK); err != nil {
				return &RunFolderError{Dir: dir, Problem: Unwritable, Err: fmt.Errorf("%s: %w", p, err)}
			}
			return nil
		case !errors.Is(err, os.ErrNotExist) && !errors.Is(err, unix.ENOTDIR) || p == filepath.Dir(p):
			return &RunFolderError{Dir: dir, Problem: Unwritable, Err: err}
		}
	}
}
