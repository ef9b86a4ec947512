package faeclient_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/faed/faed/idl/faeclient"
	"github.com/faed/faed/idl/gen-go/fun/rpc"
)

// The example of README.md: a profile from faed's LRU cache, loaded and
// cached on a miss.
func Example() {
	ctx := context.Background()
	uid, key := int64(7), "profile:7"
	c, err := faeclient.Dial(ctx, faeclient.Config{Addr: "unix:/run/faed/faed.sock"}) // or "tcp:127.0.0.1:9001"
	if err != nil {
		return // faed not there: Dial opens one connection
	}
	defer c.Close()

	ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond) // the socket deadline, and budgetMs
	defer cancel()
	rc := faeclient.NewContext(ctx, "user.show", faeclient.WithUID(uid)) // a random rid; WithRID, WithTrace
	var profile []byte
	err = c.Call(ctx, func(fs rpc.FunServant) error {
		p, err := fs.LcGet(ctx, rc, key)
		var miss *rpc.TCacheMissed
		if errors.As(err, &miss) { // a miss is a normal answer
			p = []byte("loaded")
			_, err = fs.LcSet(ctx, rc, key, p)
		}
		profile = p
		return err
	})
	fmt.Println(len(profile), err)
}
