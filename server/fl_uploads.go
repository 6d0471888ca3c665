package server

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/sextant-ml/sextant/delivery"
	"github.com/sextant-ml/sextant/fl"
	"github.com/sextant-ml/sextant/fl/client"
	"github.com/sextant-ml/sextant/messaging"
)

// FLUploads routes the devices' secure-aggregation uploads (POST
// /v1/devices/{id}/fl/{task}/messages, the masked vectors among them)
// through JetStream: any replica takes an upload, publishes it and
// answers 204 once the stream holds it; the task's coordinator, on the
// leader (LeadFL), consumes the stream and hands each upload to the round.
// Uploads larger than a message are published in chunks and reassembled.
// The receiving replica checks the device credential, the seat header's
// form and the size; the seat itself (and the message) is checked by the
// round when it is consumed, so a refused upload is not answered with an
// error: the device sees the round move on without it.
type FLUploads struct {
	Bus *messaging.Bus
	// Tasks are the tasks whose uploads are taken (every replica is
	// configured with the same tasks); other tasks answer 404.
	Tasks []string
	// MaxUpload bounds one upload (default 64 MiB).
	MaxUpload int64
	// Chunk is the largest piece published (default the server's
	// max_payload less 1 KiB of framing).
	Chunk int
}

// flUploadDurable names the consumer of a task's uploads; every leader
// uses the same one, so a new leader takes over what was not consumed.
const flUploadDurable = "fl-coordinator"

func flUploadStream(task string) string { return "fl-uploads-" + messaging.Token(task) }

// maxUploadParts bounds the uploads being reassembled at once.
const maxUploadParts = 4096

type flUploadQueue struct {
	cfg   FLUploads
	tasks map[string]bool
}

// UseFLUploads declares the tasks' upload streams (work queues kept an
// hour at most) and routes uploads through them from now on. Every
// replica calls it before serving.
func (s *Server) UseFLUploads(ctx context.Context, cfg FLUploads) error {
	if cfg.Bus == nil {
		return errors.New("server: fl uploads: no bus")
	}
	if cfg.MaxUpload <= 0 {
		cfg.MaxUpload = 64 << 20
	}
	if cfg.Chunk <= 0 {
		cfg.Chunk = int(cfg.Bus.MaxPayload()) - 1024
	}
	if cfg.Chunk < 64 {
		return fmt.Errorf("server: fl uploads: chunk of %d bytes", cfg.Chunk)
	}
	q := &flUploadQueue{cfg: cfg, tasks: map[string]bool{}}
	for _, t := range cfg.Tasks {
		if err := cfg.Bus.Declare(ctx, messaging.Stream{Name: flUploadStream(t), MaxAge: time.Hour}); err != nil {
			return fmt.Errorf("server: fl uploads: %w", err)
		}
		q.tasks[t] = true
	}
	ft := s.flTasks()
	ft.mu.Lock()
	ft.uploads = q
	ft.mu.Unlock()
	return nil
}

func (t *flTasks) uploadQueue() *flUploadQueue {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.uploads
}

// flSendRoute answers uploads: through the queue when UseFLUploads was
// called, else straight to the local task.
func (s *Server) flSendRoute() http.Handler {
	direct := s.flDevice(s.flSend)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := s.flTasks().uploadQueue()
		if q == nil {
			direct.ServeHTTP(w, r)
			return
		}
		if err := s.flEnqueue(w, r, q); err != nil {
			s.writeFLError(w, r, err)
		}
	})
}

// flEnqueue publishes an upload.
func (s *Server) flEnqueue(w http.ResponseWriter, r *http.Request, q *flUploadQueue) error {
	d, err := s.pathDevice(r)
	if err != nil {
		return err
	}
	if ok, wait := s.flLimit.allow(d.id); !ok {
		return rateLimited(wait)
	}
	task := r.PathValue("task")
	if !q.tasks[task] {
		return delivery.Errorf(delivery.ErrNotFound, "no federated task %q", task)
	}
	if _, err := seatOf(r); err != nil {
		return err
	}
	seat := r.Header.Get(seatHeader)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, q.cfg.MaxUpload))
	if err != nil {
		return delivery.Errorf(delivery.ErrInvalid, "upload: %v", err)
	}
	// The id is the content's: a device's retry is stored once.
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00", task, seat)
	h.Write(body)
	var id [16]byte
	copy(id[:], h.Sum(nil))
	n := max(1, (len(body)+q.cfg.Chunk-1)/q.cfg.Chunk)
	for i := range n {
		part := body[i*q.cfg.Chunk : min(len(body), (i+1)*q.cfg.Chunk)]
		key := fmt.Sprintf("%s/%d", hex.EncodeToString(id[:]), i)
		if err := q.cfg.Bus.Publish(r.Context(), flUploadStream(task), key, appendUploadPart(nil, id, i, n, seat, part)); err != nil {
			return fmt.Errorf("server: fl upload: %w", err)
		}
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// An upload part is: the upload id (16 bytes), uvarint part index, uvarint
// part count, uvarint seat length, the seat header, and the part's bytes.
func appendUploadPart(b []byte, id [16]byte, i, n int, seat string, part []byte) []byte {
	b = append(b, id[:]...)
	b = binary.AppendUvarint(b, uint64(i))
	b = binary.AppendUvarint(b, uint64(n))
	b = binary.AppendUvarint(b, uint64(len(seat)))
	b = append(b, seat...)
	return append(b, part...)
}

type uploadPart struct {
	id   [16]byte
	i, n int
	seat string
	data []byte
}

// parseUploadPart decodes a part; maxParts bounds its count.
func parseUploadPart(b []byte, maxParts int) (uploadPart, error) {
	var p uploadPart
	if len(b) < 16 {
		return p, errors.New("short upload part")
	}
	copy(p.id[:], b)
	b = b[16:]
	var vals [3]uint64
	for k := range vals {
		v, m := binary.Uvarint(b)
		if m <= 0 {
			return p, errors.New("malformed upload part")
		}
		vals[k], b = v, b[m:]
	}
	if vals[1] == 0 || vals[1] > uint64(maxParts) || vals[0] >= vals[1] || vals[2] > 256 || vals[2] > uint64(len(b)) {
		return p, fmt.Errorf("upload part %d of %d, seat of %d bytes: out of bounds", vals[0], vals[1], vals[2])
	}
	p.i, p.n = int(vals[0]), int(vals[1])
	p.seat, p.data = string(b[:vals[2]]), b[vals[2]:]
	return p, nil
}

// partial is an upload being reassembled.
type partial struct {
	parts [][]byte
	got   int
	size  int64
	seen  time.Time
}

// consumeUploads hands t's uploads to svc until ctx ends (LeadFL runs it
// on the leader). An upload the round refuses (another attempt's, a
// replay, a malformed message) is dropped: the device learns it from the
// round, as it would of a lost request.
func (s *Server) consumeUploads(ctx context.Context, q *flUploadQueue, svc *fl.Service) error {
	task := svc.Coordinator().Task().Name
	maxParts := int(q.cfg.MaxUpload/int64(q.cfg.Chunk)) + 1
	parts := map[[16]byte]*partial{}
	deliver := func(id [16]byte, seat string, body []byte) {
		st, err := seatOfHeader(seat)
		if err == nil {
			err = svc.Send(st, body)
		}
		if err != nil {
			s.log.DebugContext(ctx, "fl: dropped an upload", "task", task, "upload", hex.EncodeToString(id[:]), "err", err)
		}
	}
	return q.cfg.Bus.Consume(ctx, flUploadStream(task), flUploadDurable, messaging.ConsumeOptions{Batch: 64},
		func(ctx context.Context, ms []messaging.Msg) error {
			for _, m := range ms {
				p, err := parseUploadPart(m.Data, maxParts)
				if err != nil {
					s.log.WarnContext(ctx, "fl: dropped an upload part", "task", task, "seq", m.Seq, "err", err)
					continue
				}
				if p.n == 1 {
					deliver(p.id, p.seat, p.data)
					continue
				}
				u := parts[p.id]
				if u == nil {
					if len(parts) >= maxUploadParts {
						evictOldest(parts)
					}
					u = &partial{parts: make([][]byte, p.n)}
					parts[p.id] = u
				}
				if len(u.parts) != p.n || u.parts[p.i] != nil {
					continue // a redelivered part, or a conflicting count
				}
				if u.size += int64(len(p.data)); u.size > q.cfg.MaxUpload {
					delete(parts, p.id)
					continue
				}
				u.parts[p.i], u.seen = p.data, time.Now()
				if u.got++; u.got == p.n {
					delete(parts, p.id)
					body := make([]byte, 0, u.size)
					for _, b := range u.parts {
						body = append(body, b...)
					}
					deliver(p.id, p.seat, body)
				}
			}
			return nil
		})
}

func evictOldest(parts map[[16]byte]*partial) {
	var oldest [16]byte
	var at time.Time
	for id, u := range parts {
		if at.IsZero() || u.seen.Before(at) {
			oldest, at = id, u.seen
		}
	}
	delete(parts, oldest)
}

// seatOfHeader parses a seat header's value.
func seatOfHeader(v string) (*client.Seat, error) {
	r := &http.Request{Header: http.Header{}}
	r.Header.Set(seatHeader, v)
	return seatOf(r)
}
