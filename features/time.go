package features

import "math"

// Time-of-week conventions.
const (
	// HoursPerWeek is the number of hour-of-week values.
	HoursPerWeek = 168
	// DayTypes are weekday (Monday–Friday) and weekend.
	DayTypes = 2
	// TimeBuckets is the number of (day type, hour of day) buckets.
	TimeBuckets = DayTypes * 24
)

// unixMondayHours is the hour offset of the Unix epoch (Thursday 1970-01-01
// 00:00) from the preceding Monday 00:00.
const unixMondayHours = 3 * 24

// HourOfWeek is the fractional hour of week of Unix time t (seconds) at a
// UTC offset in seconds: 0 is Monday 00:00, the result is in [0, 168).
func HourOfWeek(t int64, offset int) float64 {
	h := math.Mod(float64(t+int64(offset))/3600+unixMondayHours, HoursPerWeek)
	if h < 0 {
		h += HoursPerWeek
	}
	return h
}

// Bucket is the (day type, hour of day) bucket of a fractional hour of week:
// dayType·24 + hour of day.
func Bucket(how float64) int {
	h := int(how)
	if h < 0 || h >= HoursPerWeek {
		h = ((h % HoursPerWeek) + HoursPerWeek) % HoursPerWeek
	}
	day, hod := h/24, h%24
	dt := 0
	if day >= 5 {
		dt = 1
	}
	return dt*24 + hod
}

// near sums hist over the buckets of the same day type whose hour of day
// is in [hod+lo, hod+hi] (circular within the day).
func near(hist *[TimeBuckets]int32, bucket, lo, hi int) int32 {
	dt, hod := bucket/24, bucket%24
	var s int32
	for d := lo; d <= hi; d++ {
		s += hist[dt*24+((hod+d)%24+24)%24]
	}
	return s
}

// nearWeek sums hist over the hours of week in [how+lo, how+hi] (circular
// within the week): the same day of the week, not just the same day type.
func nearWeek(hist *[HoursPerWeek]int32, how, lo, hi int) int32 {
	var s int32
	for d := lo; d <= hi; d++ {
		s += hist[((how+d)%HoursPerWeek+HoursPerWeek)%HoursPerWeek]
	}
	return s
}

// haversine is the great-circle distance in metres between two points in
// degrees (mean Earth radius 6,371,008.8 m, IUGG).
func haversine(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371008.8
	p1, p2 := lat1*math.Pi/180, lat2*math.Pi/180
	dp, dl := p2-p1, (lon2-lon1)*math.Pi/180
	a := math.Sin(dp/2)*math.Sin(dp/2) + math.Cos(p1)*math.Cos(p2)*math.Sin(dl/2)*math.Sin(dl/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}
