"""Users and roles: who may sign in and what each sees (admins only; docs/security.md)."""

import streamlit as st

import ui
from analytics import filter_options
from analytics.access import add_user, list_users, remove_user
from analytics.scope import ROLES
from ui.text import md

PAGE = "Users and roles"
ROLE_LABELS = {
    "admin": "Admin: everything; imports data, manages users",
    "supervisor": "Supervisor: the clients of their clinics",
    "therapist": "Therapist: their own caseload",
    "qi": "Quality improvement: de-identified aggregates only",
}
_FLASH = "_admin_users_flash"

current = ui.page(PAGE, "Who may sign in, with which role and scope. A change applies from the user's next page load.",
                  requires="admin")

if not ui.auth_configured():
    st.info(
        "Sign-in is not configured, so the dashboard runs in local single-user mode and these roles are not "
        "used yet. They apply once an [auth] section is added to .streamlit/secrets.toml (docs/security.md).",
        icon=":material/info:",
    )

for kind, message in st.session_state.pop(_FLASH, []):
    getattr(st, kind)(message)

users = ui.run(list_users)
st.subheader("Users")
if users.empty:
    st.info("No users yet. Add the first administrator below, or with `python -m analytics users add`.")
else:
    shown = users.assign(
        clinics=users["clinics"].map(lambda c: ", ".join(c) if c is not None and len(c) else ""),
        therapist_id=users["therapist_id"].fillna(""),
    )
    st.dataframe(
        shown,
        hide_index=True,
        column_config={
            "email": "E-mail",
            "role": "Role",
            "clinics": st.column_config.TextColumn("Clinics", help="Supervisors: the clinics they see. None = no client."),
            "therapist_id": "Therapist id",
            "added_at": st.column_config.DatetimeColumn("Added (UTC)", format="YYYY-MM-DD HH:mm"),
        },
    )

options = ui.run(filter_options, current)
st.subheader("Add or change a user")
with st.form("add_user"):
    email = st.text_input("E-mail address", help="The address the user signs in with; case does not matter.")
    role = st.selectbox("Role", ROLES, format_func=ROLE_LABELS.get)
    clinics = st.multiselect(
        "Clinics",
        options["clinic"],
        accept_new_options=True,
        help="Supervisors: the clinics they see (required: none listed means no client). "
        "Therapists and QI: an optional further limit. Not for admins.",
    )
    therapist_id = st.selectbox(
        "Therapist id",
        options["therapist"],
        index=None,
        accept_new_options=True,
        placeholder="Therapists only",
        help="The therapist's therapist_id in the clients table: they see the clients with this id.",
    )
    submitted = st.form_submit_button("Save user", type="primary")
if submitted:
    try:
        change = add_user(ui.database_path(), email, role, clinics=clinics, therapist_id=therapist_id)
    except ValueError as exc:
        st.error(f"Not saved: {exc}.")
    else:
        v = change.viewer
        ui.log_event("user_change", detail=f"{'added' if change.created else 'changed'} {v.email}: role {v.role}")
        flash = [("success", f"{'Added' if change.created else 'Updated'} {v.email} as {v.role}.")]
        flash += [("warning", md(note[:1].upper() + note[1:] + ".")) for note in change.warnings]
        st.session_state[_FLASH] = flash
        st.rerun()

st.subheader("Remove a user")
removable = [e for e in users["email"].tolist() if e != current.email] if not users.empty else []
if not removable:
    st.caption("No user to remove (you cannot remove your own account here).")
else:
    with st.form("remove_user"):
        target = st.selectbox("User", removable, index=None, placeholder="Choose a user")
        confirm = st.checkbox("Yes, remove this user's access")
        removed = st.form_submit_button("Remove user")
    if removed:
        if not target or not confirm:
            st.error("Choose a user and tick the confirmation first.")
        else:
            if remove_user(ui.database_path(), target):
                ui.log_event("user_change", detail=f"removed {target}")
                st.session_state[_FLASH] = [("success", f"Removed {target}. They see 'no access' from their next page load.")]
            st.rerun()
