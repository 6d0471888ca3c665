package mobility

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// The city file is gzip-compressed; inside, after the magic line, every
// number is a varint (signed ones zigzag): the name; the node count and the
// nodes' coordinates in microdegrees, delta-coded; per node its out-degree,
// then per edge the head node (delta from the tail), length in decimetres,
// speed in 0.1 km/h, class, and start and end bearings; then the places
// (OSM id, name, category, delta-coded microdegrees, node, relevance as
// float32 bits). The format is Sextant's own, small enough to commit.
const cityMagic = "sextant-city 1\n"

// maxCityCount bounds every count read from a city file, so a corrupt file
// fails instead of allocating without limit.
const maxCityCount = 1 << 26

// WriteCity encodes c to w in the city file format.
func WriteCity(w io.Writer, c *City) error {
	if err := c.Validate(); err != nil {
		return err
	}
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(zw)
	var buf [binary.MaxVarintLen64]byte
	uv := func(v uint64) { bw.Write(buf[:binary.PutUvarint(buf[:], v)]) }
	sv := func(v int64) { bw.Write(buf[:binary.PutVarint(buf[:], v)]) }
	str := func(s string) { uv(uint64(len(s))); bw.WriteString(s) }
	micro := func(deg float64) int64 { return int64(math.Round(deg * 1e6)) }

	bw.WriteString(cityMagic)
	str(c.Name)
	n := c.NumNodes()
	uv(uint64(n))
	var plat, plon int64
	for v := 0; v < n; v++ {
		lat, lon := micro(c.NodeLat[v]), micro(c.NodeLon[v])
		sv(lat - plat)
		sv(lon - plon)
		plat, plon = lat, lon
	}
	for v := 0; v < n; v++ {
		out := c.Out(int32(v))
		uv(uint64(len(out)))
		for i := range out {
			e := &out[i]
			sv(int64(e.To) - int64(v))
			uv(uint64(math.Round(float64(e.Length) * 10)))
			uv(uint64(math.Round(float64(e.Speed) * 36)))
			uv(uint64(e.Class))
			uv(uint64(e.Start))
			uv(uint64(e.End))
		}
	}
	uv(uint64(len(c.Places)))
	plat, plon = 0, 0
	for i := range c.Places {
		p := &c.Places[i]
		sv(p.OSMID)
		str(p.Name)
		uv(uint64(p.Category))
		lat, lon := micro(p.Lat), micro(p.Lon)
		sv(lat - plat)
		sv(lon - plon)
		plat, plon = lat, lon
		uv(uint64(p.Node))
		uv(uint64(math.Float32bits(p.Relevance)))
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("mobility: write city: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("mobility: write city: %w", err)
	}
	return nil
}

// ReadCity decodes a city file.
func ReadCity(r io.Reader) (*City, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("mobility: read city: %w", err)
	}
	defer zr.Close()
	br := bufio.NewReader(zr)
	magic := make([]byte, len(cityMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != cityMagic {
		return nil, errors.New("mobility: read city: not a city file")
	}
	d := cityDecoder{r: br}
	c := &City{Name: d.str()}
	n := d.count()
	c.NodeLat, c.NodeLon = make([]float64, n), make([]float64, n)
	var lat, lon int64
	for v := 0; v < n && d.err == nil; v++ {
		lat += d.sv()
		lon += d.sv()
		c.NodeLat[v], c.NodeLon[v] = float64(lat)/1e6, float64(lon)/1e6
	}
	c.EdgeStart = make([]int32, n+1)
	for v := 0; v < n && d.err == nil; v++ {
		deg := d.count()
		for k := 0; k < deg && d.err == nil; k++ {
			c.Edges = append(c.Edges, Edge{
				To:     int32(int64(v) + d.sv()),
				Length: float32(d.uv()) / 10,
				Speed:  float32(d.uv()) / 36,
				Class:  RoadClass(d.uv()),
				Start:  int16(d.uv()),
				End:    int16(d.uv()),
			})
		}
		c.EdgeStart[v+1] = int32(len(c.Edges))
	}
	np := d.count()
	lat, lon = 0, 0
	for i := 0; i < np && d.err == nil; i++ {
		var p Place
		p.OSMID = d.sv()
		p.Name = d.str()
		p.Category = Category(d.uv())
		lat += d.sv()
		lon += d.sv()
		p.Lat, p.Lon = float64(lat)/1e6, float64(lon)/1e6
		p.Node = int32(d.uv())
		p.Relevance = math.Float32frombits(uint32(d.uv()))
		c.Places = append(c.Places, p)
	}
	if d.err != nil {
		return nil, fmt.Errorf("mobility: read city: %w", d.err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// LoadCity reads a city file from disk.
func LoadCity(path string) (*City, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("mobility: %w", err)
	}
	defer f.Close()
	return ReadCity(f)
}

// cityDecoder reads varints, remembering the first error.
type cityDecoder struct {
	r   *bufio.Reader
	err error
}

func (d *cityDecoder) uv() uint64 {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadUvarint(d.r)
	if err != nil {
		d.err = noEOF(err)
	}
	return v
}

func (d *cityDecoder) sv() int64 {
	if d.err != nil {
		return 0
	}
	v, err := binary.ReadVarint(d.r)
	if err != nil {
		d.err = noEOF(err)
	}
	return v
}

func (d *cityDecoder) count() int {
	v := d.uv()
	if v > maxCityCount {
		if d.err == nil {
			d.err = fmt.Errorf("count %d exceeds the limit %d", v, maxCityCount)
		}
		return 0
	}
	return int(v)
}

func (d *cityDecoder) str() string {
	n := d.count()
	if d.err != nil || n == 0 {
		return ""
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(d.r, b); err != nil {
		d.err = noEOF(err)
		return ""
	}
	return string(b)
}

func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
