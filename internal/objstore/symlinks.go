package objstore

// symlinkFollower is implemented by the local backend and the retry
// decorator.
type symlinkFollower interface {
	followSymlinks() Store
}

// FollowSymlinks returns a view of s whose List also follows symbolic links
// that lead out of a local folder (by default such links are skipped with a
// warning: a link in a shared input folder must not expose the files of the
// machine it runs on). Dangling links and loops are skipped either way. For
// a store that is not a local folder it returns s.
func FollowSymlinks(s Store) Store {
	if f, ok := s.(symlinkFollower); ok {
		return f.followSymlinks()
	}
	return s
}

func (s *localStore) followSymlinks() Store {
	c := *s
	c.followOut = true
	return &c
}

func (r *retryStore) followSymlinks() Store {
	c := *r
	c.s = FollowSymlinks(r.s)
	return &c
}
