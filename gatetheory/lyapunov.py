"""Lyapunov exponents, correlation functions and relaxation times of sampled networks (theory.md sec. 5).

Benettin / QR: k tangent vectors are propagated with the exact Jacobian-vector product of the
cell's pencil blocks (sample.SampledNetwork) and re-orthonormalised every `renorm` steps;
lambda_i = mean log R_ii per unit time (per step in discrete time). Seeds are separate: the
couplings come from net.seed, the initial state from stream [seed, 1, state_index], the
tangent basis from stream [seed, 2, tangent_seed] and the inputs of a driven network from stream
[seed, 3, input_index].

Driven networks (design.md "Inputs"): the exponents are conditional on the input. The trajectory
and its tangent vectors see the same input sequence eta(t): v' = J(s, eta) v in discrete time; in
continuous time (s, v) advance together by the stochastic Heun scheme with eta = dW / dt held over
the step (sample.py module doc), so the tangent is the linearisation of the very scheme the state
follows.
"""

from dataclasses import asdict, dataclass, field

import numpy as np

from .errors import ConvergenceError, ParameterError
from .functions import sigmoid
from .numerics.dmft import FROZEN, cross_correlation, relaxation_times

BLOCKS = 10   # the measured run is cut into this many blocks for the standard error
GATE_SAMPLES = 64   # times along the measured run at which gate values are collected


@dataclass
class SampledDynamics:
    """Exponents (descending) with standard errors, state moments, correlations and relaxation times."""

    exponents: list
    standard_errors: list
    unit: str
    state_second_moments: dict
    relaxation_time: dict
    integral_time: dict
    correlations: dict = field(repr=False, default_factory=dict)
    time_step: float = 1.0
    gate_statistics: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)

    @property
    def lyapunov_max(self):
        return self.exponents[0]

    def to_dict(self):
        out = asdict(self)
        out["correlations"] = {k: list(map(float, v)) for k, v in self.correlations.items()}
        out["lyapunov_max"] = self.lyapunov_max
        return out


def _check_run(net, steps, t, dt, burn, k, renorm):
    """Number of measured and burn-in steps and the step length, with typed errors."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= net.ns * net.n:
        raise ParameterError(f"number of exponents k must be an integer in [1, {net.ns * net.n}], got {k!r}")
    if isinstance(renorm, bool) or not isinstance(renorm, (int, np.integer)) or renorm < 1:
        raise ParameterError(f"renorm must be a positive integer, got {renorm!r}")
    if net.cell.time == "discrete":
        if steps is None or t is not None or int(steps) != steps or steps < BLOCKS * renorm or burn < 0:
            raise ParameterError(f"a discrete-time network needs steps >= {BLOCKS * renorm} (and no t), "
                                 f"burn >= 0; got steps={steps!r}, t={t!r}, burn={burn!r}")
        return int(steps), int(round(burn)), 1.0
    if t is None or steps is not None or not (dt > 0 and t >= BLOCKS * renorm * dt and burn >= 0):
        raise ParameterError(f"a continuous-time network needs t >= {BLOCKS * renorm} dt (and no steps), "
                             f"dt > 0, burn >= 0 (time units); got t={t!r}, dt={dt!r}, burn={burn!r}")
    return int(round(t / dt)), int(round(burn / dt)), float(dt)


def _advance(net, state, basis, dt, eta=None):
    """One step of the state and its tangent vectors at input eta: the map (discrete), RK4 of (F, J v)
    (continuous) or, for a driven continuous network, the stochastic Heun scheme of (F, J v)."""
    if net.cell.time == "discrete":
        blocks = net.site_blocks(state, eta)
        return net.step(state, eta), np.array([net._jvp(blocks, v) for v in basis])

    def rates(s, vs):
        blocks = net.site_blocks(s, eta)
        return net.flow(s, eta), np.array([net._jvp(blocks, v) for v in vs])
    k1 = rates(state, basis)
    if net.driven:
        k2 = rates(state + dt * k1[0], basis + dt * k1[1])
        return state + 0.5 * dt * (k1[0] + k2[0]), basis + 0.5 * dt * (k1[1] + k2[1])
    k2 = rates(state + 0.5 * dt * k1[0], basis + 0.5 * dt * k1[1])
    k3 = rates(state + 0.5 * dt * k2[0], basis + 0.5 * dt * k2[1])
    k4 = rates(state + dt * k3[0], basis + dt * k3[1])
    return (state + dt / 6 * (k1[0] + 2 * k2[0] + 2 * k3[0] + k4[0]),
            basis + dt / 6 * (k1[1] + 2 * k2[1] + 2 * k3[1] + k4[1]))


def _orthonormalise(basis):
    """QR of the k tangent vectors (rows): new orthonormal rows and log |R_ii|."""
    k = basis.shape[0]
    q, r = np.linalg.qr(basis.reshape(k, -1).T)
    return q.T.reshape(basis.shape), np.log(np.abs(np.diag(r)))


def sigmoid_gates(cell):
    """Indices of the definitions that are sigmoid gates."""
    return [i for i, (_, e) in enumerate(cell.defines) if isinstance(cell.expand(e), sigmoid)]


def gate_summary(values):
    """Mean, second moment and frozen / saturated fractions P(gate < 0.05), P(gate > 0.95) of gate values
    (the DMFT's gate statistics, numerics/dmft.py)."""
    return {"mean": float(np.mean(values)), "second_moment": float(np.mean(values * values)),
            "frozen_fraction": float(np.mean(values < FROZEN)),
            "saturated_fraction": float(np.mean(values > 1 - FROZEN))}


def _gate_statistics(net, samples):
    """gate_summary of every sigmoid gate over the sampled (state, eta) pairs."""
    names = [net.cell.defines[i][0].name for i in sigmoid_gates(net.cell)]
    if not names or not samples:
        return {}
    values = [net.site_values(s, eta) for s, eta in samples]
    return {name: gate_summary(np.concatenate([x[name] for x in values])) for name in names}


def sample_dynamics(net, k=1, steps=None, t=None, dt=0.1, burn=None, renorm=1, state_index=0, scale=1.0,
                    tangent_seed=0, max_lag=None, input_index=0, untied=False):
    """Benettin QR exponents and trajectory statistics of a sampled network (module doc).

    Discrete time: `steps` measured steps after `burn` steps (default steps // 4); continuous time:
    time `t` after `burn` time units (default t / 4), RK4 with step dt (stochastic Heun when driven).
    A driven network reads input stream `input_index`, shared by the state and its tangents
    (conditional exponents). untied=True redraws the couplings every step (stream [seed, 6]; state and
    tangents see the same draw): the setting of the annealed one-step maps. Correlations are <s_i(t + tau) s_i(t)> over sites and times up to
    max_lag (default half the measured run); gate statistics at GATE_SAMPLES times."""
    if burn is None:
        length = steps if net.cell.time == "discrete" else t
        burn = length / 4 if length is not None else 0
    n_steps, n_burn, h = _check_run(net, steps, t, dt, burn, k, renorm)
    if max_lag is not None and (isinstance(max_lag, bool) or not isinstance(max_lag, (int, np.integer))
                                or max_lag < 1):
        raise ParameterError(f"max_lag is a number of steps, an integer >= 1, got {max_lag!r}")
    state = net.initial_state(scale, state_index)
    basis, _ = _orthonormalise(np.random.default_rng([net.seed, 2, int(tangent_seed)])
                               .standard_normal((k, net.ns, net.n)))
    etas = net.inputs(input_index, n_burn + n_steps, h)
    draws = np.random.default_rng([net.seed, 6])
    step_net = (lambda: net.redrawn(draws)) if untied else (lambda: net)   # noqa: E731
    for _, eta in zip(range(n_burn), etas):   # the tangent basis aligns with the leading directions
        state, basis = _advance(step_net(), state, basis, h, eta)
        basis, _ = _orthonormalise(basis)
    logs, path, gate_samples = [], np.empty((net.ns, net.n, n_steps)), []
    every = max(1, n_steps // GATE_SAMPLES)
    for n, eta in zip(range(n_steps), etas):
        path[:, :, n] = state
        if n % every == 0:      # untied: gates read the network's own couplings, as independent of the
            gate_samples.append((state, eta))          # state as each step's fresh draw (same statistics)
        state, basis = _advance(step_net(), state, basis, h, eta)
        if not np.all(np.isfinite(state)):
            raise ConvergenceError(f"{net.cell.name} (N={net.n}, seed={net.seed}): state became non-finite")
        if (n + 1) % renorm == 0:
            basis, growth = _orthonormalise(basis)
            logs.append(growth)
    blocks = np.array([b.sum(axis=0) for b in np.array_split(np.array(logs), BLOCKS)])
    span = renorm * h * np.array([len(b) for b in np.array_split(np.arange(len(logs)), BLOCKS)])
    rates = blocks / span[:, None]
    exps = np.sum(blocks, axis=0) / np.sum(span)
    se = np.std(rates, axis=0, ddof=1) / np.sqrt(BLOCKS)
    order = np.argsort(-exps)
    lags = min(n_steps // 2, max_lag if max_lag is not None else n_steps // 2)
    corrs, moments, tau_e, tau_int = {}, {}, {}, {}
    for i, s in enumerate(net.cell.states):
        corrs[s.name] = cross_correlation(path[i], path[i], lags)
        moments[s.name] = float(np.mean(path[i] ** 2))
        tau_e[s.name], tau_int[s.name] = relaxation_times(corrs[s.name], h)
    prov = net.provenance()
    prov.update(state_index=state_index, tangent_seed=tangent_seed, scale=scale, steps=n_steps, burn=n_burn,
                dt=h, renorm=renorm, driven=net.driven, input_index=input_index if net.driven else None,
                untied=untied)
    return SampledDynamics([float(exps[j]) for j in order], [float(se[j]) for j in order],
                           "per step" if net.cell.time == "discrete" else "per unit time", moments, tau_e,
                           tau_int, corrs, h, _gate_statistics(net, gate_samples), prov)


def lyapunov_spectrum(net, k, **options):
    """The k largest Lyapunov exponents (descending) of a sampled network, with standard errors."""
    result = sample_dynamics(net, k=k, **options)
    return np.array(result.exponents), np.array(result.standard_errors)


def max_lyapunov(net, **options):
    """The maximal Lyapunov exponent of a sampled network and its standard error."""
    result = sample_dynamics(net, k=1, **options)
    return result.exponents[0], result.standard_errors[0]
