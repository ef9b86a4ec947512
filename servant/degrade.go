package servant

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/faed/faed/servant/mongodb"
)

// Manual degrade (SPEC §6): an operator switches a backend pool degraded
// (every call answers at once with an error, the backend is left alone) or
// read-only (writes answer so, reads go on), for a reason, and switches it
// back. The automatic degrade is each pool's breaker; this one holds until
// an operator lifts it.
//
// mongodb pools answer with the IDL's declared exceptions (TMongoDegrade,
// TMongoReadOnly) through servant/mongodb's own switches; memcache and
// mysql pools, which have none in the IDL, answer ErrDegraded or
// ErrReadOnly. A switch on pool "" covers every pool of its servant.

// Modes of a switch.
const (
	ModeOff      = "off"
	ModeDegraded = "degraded"
	ModeReadOnly = "read_only"
)

// In a cluster the switches in force are one JSON list in the degrade
// topic's znode (peer notices): a change through any node's admin server
// publishes the whole list, and every node, that one included, replaces its
// own with it when the notice fires — milliseconds on a healthy ensemble. A
// node that starts, or gets its session back, reads the list as it is.
// Two operators switching at once through two nodes: the last list
// published wins on every node.

// degradeTopic is the notice holding the cluster's switches.
const degradeTopic = "degrade"

// maxReason and maxWho bound what a switch carries into every refused
// call's error and into the cluster's list.
const (
	maxReason = 500
	maxWho    = 100
)

// ErrDegraded and ErrReadOnly are wrapped by the errors of calls refused by
// an operator's switch.
var (
	ErrDegraded = errors.New("servant: degraded by an operator")
	ErrReadOnly = errors.New("servant: read-only by an operator")
)

// Switch is one operator degrade in force.
type Switch struct {
	Name    string    `json:"name"` // servant:pool, or servant for all its pools
	Servant string    `json:"servant"`
	Pool    string    `json:"pool"` // "" for every pool of the servant
	Mode    string    `json:"mode"`
	Reason  string    `json:"reason"`
	Who     string    `json:"who"`
	Since   time.Time `json:"since"`
	// Degraded and ReadOnly say Mode as numbers for /metrics.
	Degraded bool `json:"degraded"`
	ReadOnly bool `json:"read_only"`
}

// switchKey names what a switch covers.
type switchKey struct{ servant, pool string }

// switches are the switches in force. Calls read an immutable map through
// one atomic load (nil while no switch is on, the usual case); changes
// copy it under mu.
type switches struct {
	// changing orders whole changes, publication included: two at once
	// must not publish their lists in the reverse order of their changes.
	changing sync.Mutex
	mu       sync.Mutex
	on       atomic.Pointer[map[switchKey]Switch]
}

// refuse is the error for a call of servant on pool that a switch refuses
// (write: the call changes data), or nil. A pool's own switch overrides the
// all-pools one.
func (sw *switches) refuse(servant, pool string, write bool) error {
	s, ok := sw.find(servant, pool)
	switch {
	case !ok:
		return nil
	case s.Mode == ModeDegraded:
		return fmt.Errorf("%w: %s pool %q degraded since %s by %s: %s", ErrDegraded, servant, pool, s.Since.Format(time.RFC3339), who(s), s.Reason)
	case s.Mode == ModeReadOnly && write:
		return fmt.Errorf("%w: %s pool %q read-only since %s by %s: %s; reads go on", ErrReadOnly, servant, pool, s.Since.Format(time.RFC3339), who(s), s.Reason)
	}
	return nil
}

// find is the switch in force for servant's pool: its own, else the
// all-pools one.
func (sw *switches) find(servant, pool string) (Switch, bool) {
	m := sw.on.Load()
	if m == nil {
		return Switch{}, false
	}
	if s, ok := (*m)[switchKey{servant, pool}]; ok {
		return s, true
	}
	s, ok := (*m)[switchKey{servant, ""}]
	return s, ok
}

func who(s Switch) string { return cmp.Or(s.Who, "an operator") }

// set puts s in force (or lifts its key's switch for ModeOff).
func (sw *switches) set(s Switch) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	next := map[switchKey]Switch{}
	if m := sw.on.Load(); m != nil {
		maps.Copy(next, *m)
	}
	k := switchKey{s.Servant, s.Pool}
	if s.Mode == ModeOff {
		delete(next, k)
	} else {
		next[k] = s
	}
	if len(next) == 0 {
		sw.on.Store(nil)
		return
	}
	sw.on.Store(&next)
}

// replace puts list in force in place of every switch.
func (sw *switches) replace(list []Switch) {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if len(list) == 0 {
		sw.on.Store(nil)
		return
	}
	next := make(map[switchKey]Switch, len(list))
	for _, s := range list {
		next[switchKey{s.Servant, s.Pool}] = s
	}
	sw.on.Store(&next)
}

// list is the switches in force, by name.
func (sw *switches) list() []Switch {
	m := sw.on.Load()
	if m == nil {
		return []Switch{}
	}
	out := slices.Collect(maps.Values(*m))
	slices.SortFunc(out, func(a, b Switch) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// mode is what the switches in force say of servant's pool.
func (sw *switches) mode(servant, pool string) string {
	if s, ok := sw.find(servant, pool); ok {
		return s.Mode
	}
	return ModeOff
}

// SetSwitch switches servant's pool (every pool for "") to mode (off,
// degraded or read_only) for reason, as who. It fails, changing nothing,
// for a servant that is not configured or has no such pool, or an unknown
// mode. It applies to calls that start afterwards.
func (s *FunServant) SetSwitch(servant, pool, mode, reason, who string) (Switch, error) {
	switch mode {
	case ModeOff, ModeDegraded, ModeReadOnly:
	default:
		return Switch{}, fmt.Errorf("degrade: unknown mode %q (want off, degraded or read_only)", mode)
	}
	pools, err := s.switchPools(servant)
	if err != nil {
		return Switch{}, err
	}
	if pool != "" && !slices.Contains(pools, pool) {
		return Switch{}, fmt.Errorf("degrade: %s has no pool %q (it has %v)", servant, pool, pools)
	}
	if mode != ModeOff && reason == "" {
		return Switch{}, errors.New("degrade: say why (reason): the switch holds until an operator lifts it")
	}
	if len(reason) > maxReason || len(who) > maxWho {
		return Switch{}, fmt.Errorf("degrade: reason (%d bytes) or who (%d bytes) too long: at most %d and %d; every refused call repeats them", len(reason), len(who), maxReason, maxWho)
	}
	sw := Switch{Name: servant, Servant: servant, Pool: pool, Mode: mode, Reason: reason, Who: who, Since: time.Now().UTC(),
		Degraded: mode == ModeDegraded, ReadOnly: mode == ModeReadOnly}
	if pool != "" {
		sw.Name += ":" + pool
	}
	s.switched.changing.Lock()
	defer s.switched.changing.Unlock()
	s.switched.set(sw)
	if servant == "mongodb" {
		if err := s.applyMongoNow(pools); err != nil {
			return Switch{}, err
		}
	}
	s.log.Warn("degrade switch", "switch", sw.Name, "mode", mode, "reason", reason, "who", who)
	if s.shared != nil {
		data, err := json.Marshal(s.switched.list())
		if err == nil {
			err = s.shared.PublishData(degradeTopic, data)
		}
		if err != nil {
			return sw, fmt.Errorf("degrade: switched on this node only, the other nodes were not told: %w", err)
		}
	}
	return sw, nil
}

// followSwitches replaces this node's switches with the cluster's list, on
// each degrade notice. An empty topic holds no switch; one that is not a
// list (a plain Publish, a hand-made edit) is logged and changes nothing.
func (s *FunServant) followSwitches() {
	data, err := s.shared.NoticeData(degradeTopic)
	if err != nil {
		s.log.Warn("degrade: reading the cluster's switches", "err", err)
		return
	}
	var list []Switch
	if len(data) > 0 {
		if err := json.Unmarshal(data, &list); err != nil {
			s.log.Warn("degrade: the cluster's switches are not a JSON list of switches; keeping ours", "err", err, "data", string(data[:min(len(data), 200)]))
			return
		}
	}
	s.switched.replace(list)
	if pools, err := s.switchPools("mongodb"); err == nil {
		if err := s.applyMongoNow(pools); err != nil {
			s.log.Warn("degrade: applying the cluster's switches to mongodb", "err", err)
		}
	}
}

// Switches are the operator switches in force.
func (s *FunServant) Switches() []Switch { return s.switched.list() }

// switchPools are the pools of a configured servant that can be switched.
func (s *FunServant) switchPools(servant string) ([]string, error) {
	var pools []string
	switch servant {
	case "memcache":
		pools = poolNames(s.mc.config().Memcache.Pools)
	case "mysql": // the names calls give: pools, and sharded names ("user" for user1, user2, …)
		cfg := s.my.config().MySQL
		pools = slices.Concat(poolNames(cfg.Pools), cfg.Lookup.Sharded)
	case "mongodb":
		pools = poolNames(s.mg.config().MongoDB.Pools)
	default:
		return nil, fmt.Errorf("degrade: no switch for servant %q (want memcache, mysql or mongodb)", servant)
	}
	if len(pools) == 0 {
		return nil, fmt.Errorf("degrade: %s is not configured", servant)
	}
	return pools, nil
}

// poolNames are a section's pool names, sorted.
func poolNames[P any](pools map[string]P) []string { return slices.Sorted(maps.Keys(pools)) }

// applyMongoNow applies the switches in force to the mongodb client
// serving now.
func (s *FunServant) applyMongoNow(pools []string) error {
	mg, done, err := s.mg.hold()
	if err != nil {
		return err
	}
	defer done()
	return s.applyMongo(mg.client, pools)
}

// applyMongo sets servant/mongodb's own switches of mg, which answer with
// the declared exceptions, to what the switches in force say of each pool:
// its own switch, else the all-pools one, else off.
func (s *FunServant) applyMongo(mg *mongodb.Client, pools []string) error {
	for _, p := range pools {
		mode := s.switched.mode("mongodb", p)
		if err := mg.SetDegraded(p, mode == ModeDegraded); err != nil {
			return err
		}
		if err := mg.SetReadOnly(p, mode == ModeReadOnly); err != nil {
			return err
		}
	}
	return nil
}
