package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/sextant-ml/sextant/mobility"
	"github.com/sextant-ml/sextant/mobility/dataset"
	"github.com/sextant-ml/sextant/mobility/osmcity"
	"github.com/sextant-ml/sextant/mobility/wilmington"
)

// newDataCmd is `sextant data`: the city and population simulator's data
// sets.
func newDataCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "data",
		Short: "Build cities from OpenStreetMap and generate synthetic mobility data sets",
	}
	cmd.AddCommand(newDataCityCmd(e), newDataGenerateCmd(e), newDataFeaturesCmd(e))
	return cmd
}

func newDataCityCmd(e *env) *cobra.Command {
	var (
		pbf, bbox, out, name string
		spacing              float64
		seed                 uint64
	)
	cmd := &cobra.Command{
		Use:   "city --pbf FILE [--bbox minLon,minLat,maxLon,maxLat] -o OUT.city.gz",
		Short: "Import a road graph and places from an OSM PBF extract into a city file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if pbf == "" || out == "" {
				return fmt.Errorf("data city: --pbf and -o are required")
			}
			opt := osmcity.Options{Name: name, HomeSpacing: spacing, Seed: seed}
			if bbox != "" {
				b, err := parseBBox(bbox)
				if err != nil {
					return err
				}
				opt.BBox = b
			}
			f, err := os.Open(pbf)
			if err != nil {
				return fmt.Errorf("data city: %w", err)
			}
			defer f.Close()
			city, st, err := osmcity.Import(cmd.Context(), f, opt)
			if err != nil {
				return err
			}
			o, err := os.Create(out)
			if err != nil {
				return fmt.Errorf("data city: %w", err)
			}
			if err := mobility.WriteCity(o, city); err != nil {
				o.Close()
				return err
			}
			if err := o.Close(); err != nil {
				return fmt.Errorf("data city: %w", err)
			}
			fmt.Fprintf(e.stdout, "read %d nodes, %d ways (%d roads); graph %d nodes, %d edges (%d nodes outside the largest component dropped)\n",
				st.Nodes, st.Ways, st.RoadWays, st.GraphNodes, st.Edges, st.DroppedNodes)
			fmt.Fprintf(e.stdout, "places: %d POIs, %d home sites (%d residential areas);", st.POIs, st.Homes, st.ResidentialAreas)
			for c := 0; c < mobility.NumCategories; c++ {
				fmt.Fprintf(e.stdout, " %s %d", mobility.Category(c), st.PlacesByCategory[c])
			}
			fmt.Fprintln(e.stdout)
			return nil
		},
	}
	cmd.Flags().StringVar(&pbf, "pbf", "", "OSM PBF extract")
	cmd.Flags().StringVar(&bbox, "bbox", "", "clip box: minLon,minLat,maxLon,maxLat in degrees")
	cmd.Flags().StringVarP(&out, "output", "o", "", "city file to write")
	cmd.Flags().StringVar(&name, "name", "", "city name stored in the file")
	cmd.Flags().Float64Var(&spacing, "home-spacing", 200, "metres of residential road per home site")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "seed of the places' relevance factors")
	return cmd
}

// parseBBox reads "minLon,minLat,maxLon,maxLat" (the order of OSM tools).
func parseBBox(s string) (osmcity.BBox, error) {
	parts := strings.Split(s, ",")
	if len(parts) != 4 {
		return osmcity.BBox{}, fmt.Errorf("data city: --bbox wants minLon,minLat,maxLon,maxLat, got %q", s)
	}
	var v [4]float64
	for i, p := range parts {
		x, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil {
			return osmcity.BBox{}, fmt.Errorf("data city: --bbox: %w", err)
		}
		v[i] = x
	}
	b := osmcity.BBox{MinLon: v[0], MinLat: v[1], MaxLon: v[2], MaxLat: v[3]}
	if b.MinLon >= b.MaxLon || b.MinLat >= b.MaxLat {
		return osmcity.BBox{}, fmt.Errorf("data city: --bbox %q is empty", s)
	}
	return b, nil
}

// defaultCity is the committed fixture's path from the repository root
// (tests pass it); without --city the commands use the copy embedded in
// the binary (package wilmington), from any directory.
const defaultCity = "mobility/wilmington/wilmington-newark.city.gz"

// loadCity reads the city file at path, or the embedded default city
// when path is empty.
func loadCity(path string) (*mobility.City, error) {
	if path == "" {
		return wilmington.City()
	}
	return mobility.LoadCity(path)
}

func newDataGenerateCmd(e *env) *cobra.Command {
	var (
		users, weeks, workers int
		seed                  uint64
		cityPath, out         string
		quiet                 bool
	)
	cmd := &cobra.Command{
		Use:   "generate --users N --weeks W --seed S [--city FILE] -o DIR",
		Short: "Simulate a population and write visits, trips, places and users as Parquet",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("data generate: -o is required")
			}
			city, err := loadCity(cityPath)
			if err != nil {
				return err
			}
			g, err := mobility.NewGenerator(city, mobility.Config{Users: users, Weeks: weeks, Seed: seed, Workers: workers})
			if err != nil {
				return err
			}
			w, err := dataset.Create(out, city, mobility.DefaultStart)
			if err != nil {
				return err
			}
			var bar *progressbar.ProgressBar
			if !quiet {
				bar = progressbar.NewOptions(users, progressbar.OptionSetWriter(e.stderr),
					progressbar.OptionSetDescription("users"), progressbar.OptionShowCount(), progressbar.OptionShowIts(),
					progressbar.OptionThrottle(200*time.Millisecond), progressbar.OptionOnCompletion(func() { fmt.Fprintln(e.stderr) }))
			}
			laws := mobility.NewLaws(weeks)
			var visits, trips int
			start := time.Now()
			err = g.Run(cmd.Context(), func(u *mobility.User) error {
				laws.Add(u)
				visits += len(u.Visits)
				trips += len(u.Trips)
				if bar != nil {
					bar.Add(1)
				}
				return w.Add(u)
			})
			if cerr := w.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			secs := time.Since(start).Seconds()
			zeta, _ := laws.Zipf()
			fmt.Fprintf(e.stdout, "%d users × %d weeks in %.1fs (%.0f user-weeks/s): %d visits, %d trips, %d route trees → %s\n",
				users, weeks, secs, float64(users*weeks)/secs, visits, trips, g.Routes().Trees(), out)
			fmt.Fprintf(e.stdout, "laws: zipf ζ %.3f, S(t) μ %.3f, top-two share %.3f, distinct places/user %.1f\n",
				zeta, laws.Growth(), laws.TopTwoShare(), laws.MeanDistinct())
			return nil
		},
	}
	cmd.Flags().IntVar(&users, "users", 1000, "number of agents")
	cmd.Flags().IntVar(&weeks, "weeks", 8, "simulated weeks")
	cmd.Flags().Uint64Var(&seed, "seed", 1, "random seed (the output is a function of it)")
	cmd.Flags().IntVar(&workers, "workers", 0, "simulating goroutines (default: all cores)")
	cmd.Flags().StringVar(&cityPath, "city", "", "city file (from `sextant data city`; default: the embedded Wilmington-Newark, Delaware)")
	cmd.Flags().StringVarP(&out, "output", "o", "", "output directory")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress bar")
	return cmd
}
