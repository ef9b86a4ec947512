package faeclient

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/faed/faed/scripts/testserver"
)

func TestMain(m *testing.M) { testserver.MainWithFaed(m) }

// daemon is a faed child (testserver.Faed) with its listeners spelled as
// Config.Addr spells them.
type daemon struct {
	*testserver.Faed
	TCP  string // "tcp:host:port"
	Unix string // "unix:/path"
}

// startFaed starts faed with engineKeys in its [engine] table and extra
// TOML after it, and returns once its admin server answers.
func startFaed(t *testing.T, engineKeys, extra string) *daemon {
	t.Helper()
	f := testserver.StartFaed(t, t.TempDir(), "[engine]\n"+engineKeys+"\n"+extra)
	return &daemon{Faed: f, TCP: "tcp:" + f.TCP, Unix: "unix:" + f.Unix}
}

// sessions returns how many client connections faed has open, from its
// /stats.
func (d *daemon) sessions() (int, error) {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + d.HTTP + "/stats")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var stats struct {
		Engine struct {
			SessionsActive int `json:"sessions_active"`
		} `json:"engine"`
	}
	err = json.NewDecoder(resp.Body).Decode(&stats)
	return stats.Engine.SessionsActive, err
}

// faedWait bounds the waits on faed's /stats: a -race child on two busy
// cores can take more than 10s to answer at all.
const faedWait = 30 * time.Second
