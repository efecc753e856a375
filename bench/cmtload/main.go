// agora-load: CometBFT's load generator (tm-load-test, the framework test/loadtime's `load` is
// built on, at the version CometBFT v0.38.25 pins) sending Agora transactions instead of
// loadtime's random payloads, which Agora's CheckTx refuses.
//
// The txs are signed beforehand by bench/bench_cometbft.c (the C encoder, so no second
// encoder to keep in step) and read from the file named by AGORA_LOAD_TXS:
//
//	streams u32le, then per stream: count u32le, then count × (len u32le ‖ tx bytes)
//
// Each transactor (one per connection per endpoint) takes the next stream and sends it in
// order, so every sender's nonces reach CometBFT in order. A stream that runs out ends its
// transactor with an error, as any client error does.
//
// Run as `load` is run: agora-load -c 1 -T 10 -r 500 -s 200 --broadcast-tx-method async
// --endpoints ws://host:port/websocket,... (-s is ignored: the txs have their own size).
package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/informalsystems/tm-load-test/pkg/loadtest"
)

type factory struct {
	mu      sync.Mutex
	streams [][][]byte
	next    int
	loaded  bool
}

type stream struct {
	txs [][]byte
	pos int
}

func readU32(r io.Reader) (uint32, error) {
	var b [4]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b[:]), nil
}

func load(path string) ([][][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	n, err := readU32(f)
	if err != nil {
		return nil, err
	}
	if n > 1<<16 {
		return nil, fmt.Errorf("%s: %d streams", path, n)
	}
	out := make([][][]byte, n)
	for s := range out {
		c, err := readU32(f)
		if err != nil {
			return nil, err
		}
		for i := uint32(0); i < c; i++ {
			l, err := readU32(f)
			if err != nil {
				return nil, err
			}
			if l > 1<<20 {
				return nil, fmt.Errorf("%s: a tx of %d bytes", path, l)
			}
			tx := make([]byte, l)
			if _, err := io.ReadFull(f, tx); err != nil {
				return nil, err
			}
			out[s] = append(out[s], tx)
		}
	}
	return out, nil
}

func (f *factory) ValidateConfig(cfg loadtest.Config) error {
	if os.Getenv("AGORA_LOAD_TXS") == "" {
		return errors.New("AGORA_LOAD_TXS names no file of signed txs")
	}
	return nil
}

func (f *factory) NewClient(cfg loadtest.Config) (loadtest.Client, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.loaded {
		s, err := load(os.Getenv("AGORA_LOAD_TXS"))
		if err != nil {
			return nil, err
		}
		f.streams, f.loaded = s, true
	}
	if f.next >= len(f.streams) {
		return nil, fmt.Errorf("%d transactors but only %d streams of txs", f.next+1, len(f.streams))
	}
	s := &stream{txs: f.streams[f.next]}
	f.next++
	return s, nil
}

func (s *stream) GenerateTx() ([]byte, error) {
	if s.pos >= len(s.txs) {
		return nil, errors.New("this stream's signed txs are all sent")
	}
	s.pos++
	return s.txs[s.pos-1], nil
}

func main() {
	if err := loadtest.RegisterClientFactory("agora", &factory{}); err != nil {
		panic(err)
	}
	loadtest.Run(&loadtest.CLIConfig{
		AppName:              "agora-load",
		AppShortDesc:         "Send pre-signed Agora txs through CometBFT's RPC at a fixed rate.",
		AppLongDesc:          "agora-load is tm-load-test with Agora transactions read from AGORA_LOAD_TXS.",
		DefaultClientFactory: "agora",
	})
}
