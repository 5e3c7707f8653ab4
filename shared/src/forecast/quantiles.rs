//! Quantiles between a forecast's calibrated bounds: the standard normal quantile function
//! and the levels it places between a point and its `interval` bounds, each side scaled on
//! its own (so asymmetric bounds give asymmetric quantiles).

/// The standard normal quantile (probit) of `p` in (0, 1), by Acklam's rational
/// approximation (relative error below 1.2e-9); infinite at 0 and 1, NaN outside [0, 1].
pub fn normal_quantile(p: f64) -> f64 {
    if !(0.0..=1.0).contains(&p) || p.is_nan() {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const LOW: f64 = 0.024_25;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// The level-`q` quantile of a forecast step with point `point` and central-`interval`
/// bounds `lower`/`upper`, placing the distribution's shape between them as a normal one's
/// would be: the median is the point, and each side's spread is the distance to its bound
/// divided by that bound's normal quantile. Monotone in `q`; equal to the bounds at
/// `(1 - interval) / 2` and `(1 + interval) / 2`.
pub fn quantile_between(point: f64, lower: f64, upper: f64, interval: f64, q: f64) -> f64 {
    let z = normal_quantile((1.0 + interval) / 2.0);
    let zq = normal_quantile(q);
    if zq >= 0.0 {
        point + (upper - point) * zq / z
    } else {
        point + (point - lower) * zq / z
    }
}

/// [`quantile_between`] at each of `levels`, as (level, value); floored at zero when
/// `floor_zero` (a series that was never negative, whose bounds inference clips too).
pub fn quantiles_at(
    point: f64,
    lower: f64,
    upper: f64,
    interval: f64,
    levels: &[f64],
    floor_zero: bool,
) -> Vec<(f64, f64)> {
    levels
        .iter()
        .map(|q| {
            let v = quantile_between(point, lower, upper, interval, *q);
            (*q, if floor_zero { v.max(0.0) } else { v })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_normal_quantile_matches_known_values() {
        for (p, want) in [
            (0.5, 0.0),
            (0.95, 1.644_853_626_951_472_2),
            (0.975, 1.959_963_984_540_054),
            (0.9, 1.281_551_565_544_600_4),
            (0.01, -2.326_347_874_040_841),
            (1e-6, -4.753_424_308_822_899),
        ] {
            assert!(
                (normal_quantile(p) - want).abs() < 1e-8,
                "{p}: {}",
                normal_quantile(p)
            );
        }
        assert!(normal_quantile(1.5).is_nan());
        assert_eq!(normal_quantile(0.0), f64::NEG_INFINITY);
    }

    #[test]
    fn quantiles_meet_the_bounds_and_are_ordered() {
        let (point, lower, upper) = (10.0, 7.0, 15.0);
        assert!((quantile_between(point, lower, upper, 0.9, 0.05) - lower).abs() < 1e-9);
        assert!((quantile_between(point, lower, upper, 0.9, 0.95) - upper).abs() < 1e-9);
        assert_eq!(quantile_between(point, lower, upper, 0.9, 0.5), point);
        let qs: Vec<f64> = [0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99]
            .iter()
            .map(|q| quantile_between(point, lower, upper, 0.9, *q))
            .collect();
        assert!(qs.windows(2).all(|w| w[0] < w[1]), "{qs:?}");
    }
}
