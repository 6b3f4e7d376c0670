package kitnet

import "math"

// corr accumulates the incremental correlation statistics of KitNET's
// feature mapper (corClust): running sums of residuals against the running
// mean and their outer products.
type corr struct {
	n          int
	N          float64
	c, cr, crs []float64
	C          []float64 // n × n
	rt         []float64
}

func newCorr(n int) *corr {
	return &corr{n: n, c: make([]float64, n), cr: make([]float64, n),
		crs: make([]float64, n), C: make([]float64, n*n), rt: make([]float64, n)}
}

func (k *corr) update(x []float64) {
	k.N++
	for i, v := range x {
		k.c[i] += v
		r := v - k.c[i]/k.N
		k.rt[i] = r
		k.cr[i] += r
		k.crs[i] += r * r
	}
	n := k.n
	for i := 0; i < n; i++ {
		ri := k.rt[i]
		if ri == 0 {
			continue
		}
		row := k.C[i*n : i*n+n]
		for j := i; j < n; j++ {
			row[j] += ri * k.rt[j]
		}
	}
}

// distance returns the correlation distance 1 - |corr| clipped at 0,
// as KitNET computes it (1 - C/sqrt(crs_i crs_j)).
func (k *corr) distance(i, j int) float64 {
	if i > j {
		i, j = j, i
	}
	den := math.Sqrt(k.crs[i]) * math.Sqrt(k.crs[j])
	if den == 0 {
		den = 1e-100
	}
	d := 1 - k.C[i*k.n+j]/den
	if d < 0 || math.IsNaN(d) {
		d = 0
	}
	return d
}

// node is a dendrogram node: a leaf (feature index) or a merge.
type node struct {
	feature     int
	left, right *node
	count       int
}

func (n *node) preOrder(out []int) []int {
	if n.left == nil {
		return append(out, n.feature)
	}
	return n.right.preOrder(n.left.preOrder(out))
}

// cluster builds a single-linkage dendrogram over the correlation distances
// and cuts it into groups of at most maxSize features, as KitNET does.
func (k *corr) cluster(maxSize int) [][]int {
	n := k.n
	if maxSize < 1 {
		maxSize = 1
	}
	d := make([]float64, n*n)
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			v := k.distance(i, j)
			d[i*n+j], d[j*n+i] = v, v
		}
	}
	nodes := make([]*node, n)
	active := make([]bool, n)
	for i := range nodes {
		nodes[i] = &node{feature: i, count: 1}
		active[i] = true
	}
	for merges := 0; merges < n-1; merges++ {
		bi, bj, best := -1, -1, math.Inf(1)
		for i := 0; i < n; i++ {
			if !active[i] {
				continue
			}
			for j := i + 1; j < n; j++ {
				if active[j] && d[i*n+j] < best {
					bi, bj, best = i, j, d[i*n+j]
				}
			}
		}
		if bi < 0 {
			break
		}
		nodes[bi] = &node{left: nodes[bi], right: nodes[bj], count: nodes[bi].count + nodes[bj].count}
		active[bj] = false
		for m := 0; m < n; m++ {
			if active[m] && m != bi {
				v := math.Min(d[bi*n+m], d[bj*n+m])
				d[bi*n+m], d[m*n+bi] = v, v
			}
		}
	}
	var groups [][]int
	var cut func(*node)
	cut = func(nd *node) {
		if nd.count <= maxSize {
			groups = append(groups, nd.preOrder(nil))
			return
		}
		cut(nd.left)
		cut(nd.right)
	}
	for i := range nodes {
		if active[i] {
			cut(nodes[i])
		}
	}
	return groups
}
