"""Built-in cells written with the Python API (SymPy expressions, couplings via `coupling`).

Every built-in has the input gain sigma_x (default 0: the autonomous cell): each pre-activation gets
`+ sigma_x * eta_k`, eta_k a fresh standard normal per site and step (white noise in continuous
time), the limit of W_k x_t with x_t ~ N(0, I_d) and W_k entries N(0, 1/d) (design.md "Inputs").
"""

import sympy as sp

from ..cell import Cell
from ..functions import sigmoid
from ..spec import coupling, real_symbol


def _symbols(names):
    return [real_symbol(n) for n in names.split()]


def vanilla():
    """Discrete vanilla RNN: x' = tanh(g U_x[x] + sigma_x eta_x + sigma_b xi_x)."""
    x, g, sigma_x, eta, sigma_b, xi = _symbols("x g sigma_x eta_x sigma_b xi_x")
    U = coupling("U_x")
    return Cell("vanilla", "discrete", [x], dict(g=1.5, sigma_b=0.0, sigma_x=0.0),
                update={"x": sp.tanh(g * U(x) + sigma_x * eta + sigma_b * xi)}, description=vanilla.__doc__)


def vanilla_ct():
    """Continuous vanilla (SCS) network: dx/dt = -x + g U_x[tanh(x)] + sigma_x eta_x + sigma_b xi_x
    (eta_x white noise of intensity 1)."""
    x, g, sigma_x, eta, sigma_b, xi = _symbols("x g sigma_x eta_x sigma_b xi_x")
    U = coupling("U_x")
    return Cell("vanilla_ct", "continuous", [x], dict(g=1.5, sigma_b=0.0, sigma_x=0.0),
                update={"x": -x + g * U(sp.tanh(x)) + sigma_x * eta + sigma_b * xi},
                description=vanilla_ct.__doc__)


def gru():
    """GRU (theory.md sec. 1): z = sigma(alpha_z U_z[h] + sigma_x eta_z + beta_z),
    r = sigma(alpha_r U_r[h] + sigma_x eta_r + beta_r), a = g U_h[r h] + sigma_x eta_a + sigma_b xi_a,
    h' = (1 - z) h + z tanh(a)."""
    h, z, r, a = _symbols("h z r a")
    g, az, bz, ar, br, sb, xi, sx, ez, er, ea = _symbols(
        "g alpha_z beta_z alpha_r beta_r sigma_b xi_a sigma_x eta_z eta_r eta_a")
    Uz, Ur, Uh = coupling("U_z"), coupling("U_r"), coupling("U_h")
    return Cell("gru", "discrete", [h],
                dict(g=1.5, alpha_z=1.0, beta_z=0.0, alpha_r=1.0, beta_r=0.0, sigma_b=0.0, sigma_x=0.0),
                define={"z": sigmoid(az * Uz(h) + sx * ez + bz), "r": sigmoid(ar * Ur(h) + sx * er + br),
                        "a": g * Uh(r * h) + sx * ea + sb * xi},
                update={"h": (1 - z) * h + z * sp.tanh(a)}, description=gru.__doc__)


def gru_torch():
    """GRU in PyTorch's convention (reset after the matrix product, z keeps the old state):
    z = sigma(alpha_z U_z[h] + sigma_x eta_z + beta_z), r = sigma(alpha_r U_r[h] + sigma_x eta_r + beta_r),
    n = tanh(r g U_h[h] + sigma_x eta_n + sigma_b xi_n), h' = (1 - z) n + z h."""
    h, z, r, n = _symbols("h z r n")
    g, az, bz, ar, br, sb, xi, sx, ez, er, en = _symbols(
        "g alpha_z beta_z alpha_r beta_r sigma_b xi_n sigma_x eta_z eta_r eta_n")
    Uz, Ur, Uh = coupling("U_z"), coupling("U_r"), coupling("U_h")
    return Cell("gru_torch", "discrete", [h],
                dict(g=1.5, alpha_z=1.0, beta_z=0.0, alpha_r=1.0, beta_r=0.0, sigma_b=0.0, sigma_x=0.0),
                define={"z": sigmoid(az * Uz(h) + sx * ez + bz), "r": sigmoid(ar * Ur(h) + sx * er + br),
                        "n": sp.tanh(r * g * Uh(h) + sx * en + sb * xi)},
                update={"h": (1 - z) * n + z * h}, description=gru_torch.__doc__)


def lstm():
    """LSTM (design.md): gates k = sigma(alpha_k U_k[h] + sigma_x eta_k + beta_k) for k in f, i, o,
    c' = f c + i tanh(g U_c[h] + sigma_x eta_c + sigma_b xi_c), h' = o tanh(c')."""
    c, h, f, i, o, cn = _symbols("c h f i o c_new")
    g, af, bf, ai, bi, ao, bo, sb, xi, sx, ef, ei, eo, ec = _symbols(
        "g alpha_f beta_f alpha_i beta_i alpha_o beta_o sigma_b xi_c sigma_x eta_f eta_i eta_o eta_c")
    Uf, Ui, Uo, Uc = coupling("U_f"), coupling("U_i"), coupling("U_o"), coupling("U_c")
    return Cell("lstm", "discrete", [c, h],
                dict(g=1.5, alpha_f=1.0, beta_f=0.0, alpha_i=1.0, beta_i=0.0, alpha_o=1.0, beta_o=0.0,
                     sigma_b=0.0, sigma_x=0.0),
                define={"f": sigmoid(af * Uf(h) + sx * ef + bf), "i": sigmoid(ai * Ui(h) + sx * ei + bi),
                        "o": sigmoid(ao * Uo(h) + sx * eo + bo),
                        "c_new": f * c + i * sp.tanh(g * Uc(h) + sx * ec + sb * xi)},
                update={"c": cn, "h": o * sp.tanh(cn)}, description=lstm.__doc__)


def gated_ct():
    """Continuous-time gated network (PRX 2022; reference/gated-continuous.md sec. 1):
    dh/dt = sigma_z(z) (-h + g_h U_h[sigma_r(r) tanh(h)] + b_h + sigma_b xi_h + sigma_x eta_h),
    tau_z dz/dt = -z + g_z U_z[tanh(h)] + sigma_x eta_z, tau_r dr/dt = -r + g_r U_r[tanh(h)] + sigma_x eta_r,
    sigma_x(u) = 1 / (1 + exp(-alpha_x u + beta_x)); eta white noise of intensity 1."""
    h, z, r, sz, sr = _symbols("h z r s_z s_r")
    gh, gz, gr, az, bz, ar, br, tz, tr, bh, sb, xi, sx, eh, ez, er = _symbols(
        "g_h g_z g_r alpha_z beta_z alpha_r beta_r tau_z tau_r b_h sigma_b xi_h sigma_x eta_h eta_z eta_r")
    Uh, Uz, Ur = coupling("U_h"), coupling("U_z"), coupling("U_r")
    return Cell("gated_ct", "continuous", [h, z, r],
                dict(g_h=2.0, g_z=1.0, g_r=1.0, alpha_z=1.0, beta_z=0.0, alpha_r=1.0, beta_r=0.0,
                     tau_z=1.0, tau_r=1.0, b_h=0.0, sigma_b=0.0, sigma_x=0.0),
                define={"s_z": sigmoid(az * z - bz), "s_r": sigmoid(ar * r - br)},
                update={"h": sz * (-h + gh * Uh(sr * sp.tanh(h)) + bh + sb * xi + sx * eh),
                        "z": (-z + gz * Uz(sp.tanh(h)) + sx * ez) / tz,
                        "r": (-r + gr * Ur(sp.tanh(h)) + sx * er) / tr},
                bounds={"tau_z": (0.0, None), "tau_r": (0.0, None)}, description=gated_ct.__doc__)


def mgu():
    """Minimal gated unit (one gate for update and reset): f = sigma(alpha_f U_f[h] + sigma_x eta_f + beta_f),
    a = g U_h[f h] + sigma_x eta_a + sigma_b xi_a, h' = (1 - f) h + f tanh(a)."""
    h, f, a = _symbols("h f a")
    g, af, bf, sb, xi, sx, ef, ea = _symbols("g alpha_f beta_f sigma_b xi_a sigma_x eta_f eta_a")
    Uf, Uh = coupling("U_f"), coupling("U_h")
    return Cell("mgu", "discrete", [h], dict(g=1.5, alpha_f=1.0, beta_f=0.0, sigma_b=0.0, sigma_x=0.0),
                define={"f": sigmoid(af * Uf(h) + sx * ef + bf), "a": g * Uh(f * h) + sx * ea + sb * xi},
                update={"h": (1 - f) * h + f * sp.tanh(a)}, description=mgu.__doc__)


BUILTINS = {c.__name__: c for c in (vanilla, vanilla_ct, gru, gru_torch, lstm, gated_ct, mgu)}
