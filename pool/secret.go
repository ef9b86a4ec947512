package pool

// Secret is a configuration string that must not be shown: a password, or a
// connection URI carrying one. It decodes from TOML like a string and
// encodes (for the admin /config endpoint) as a mask.
type Secret string

// Masked is what a set Secret encodes as.
const Masked = "******"

// MarshalText masks a set secret; an unset one stays empty so operators can
// tell the two apart.
func (s Secret) MarshalText() ([]byte, error) {
	if s == "" {
		return []byte{}, nil // not nil: TOML encoders refuse a nil text
	}
	return []byte(Masked), nil
}

// UnmarshalText reads the secret as given.
func (s *Secret) UnmarshalText(b []byte) error {
	*s = Secret(b)
	return nil
}

// String masks the secret in logs and errors as well; use string(s) for
// the real value.
func (s Secret) String() string {
	b, _ := s.MarshalText()
	return string(b)
}
